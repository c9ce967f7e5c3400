# syntax=docker/dockerfile:1

# The warren command-line tool and the calculator example (server and client)
# in a small runtime image; docker-compose.yml runs them against RabbitMQ.
#
#   docker build -t warren .
#   docker run --rm -e WARREN_TRANSPORT_URL=rabbit://guest:guest@host:5672/ warren server -server calc-1

FROM golang:1.26 AS build
WORKDIR /src
ENV CGO_ENABLED=0
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/ \
        ./cmd/warren \
        ./examples/calculator/server \
        ./examples/calculator/client

FROM debian:bookworm-slim
# CA certificates for amqps:// brokers.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
USER nobody
CMD ["warren"]
