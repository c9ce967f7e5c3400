module github.com/warrenrpc/warren

go 1.25

require github.com/kelseyhightower/envconfig v1.4.0

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/rabbitmq/amqp091-go v1.16.0 // indirect
	go.uber.org/goleak v1.3.0 // indirect
)
