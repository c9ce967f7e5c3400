package benchsuite

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of the CPU times in /proc/<pid>/stat: USER_HZ,
// 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// brokerProc is the local broker's process, whose CPU time each
// measurement reads, as the suite reads its own and its servers'.
type brokerProc struct{ pid int }

// findBroker returns the process that listens on the TCP port of the
// AMQP URL amqpURL when its host is this machine's loopback address, by
// the listening socket's inode in /proc/net/tcp (or tcp6) and the
// process holding it among /proc/*/fd. It needs Linux and the right to
// read the broker's file descriptors (root, or the broker's user).
func findBroker(amqpURL string) (*brokerProc, error) {
	u, err := url.Parse(amqpURL)
	if err != nil {
		return nil, err
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "5672"
		if u.Scheme == "amqps" {
			port = "5671"
		}
	}
	if host != "localhost" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("the broker %s is not on this machine", host)
		}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("port %q: %w", port, err)
	}
	pid, err := listenerPID(uint16(p))
	if err != nil {
		return nil, err
	}
	return &brokerProc{pid: pid}, nil
}

// listenerPID returns the process holding a socket that listens on TCP
// port.
func listenerPID(port uint16) (int, error) {
	inodes := make(map[string]bool)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if err := listeningInodes(f, port, inodes); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, err
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("nothing listens on port %d", port)
	}
	fds, err := filepath.Glob("/proc/[0-9]*/fd/*")
	if err != nil {
		return 0, err
	}
	for _, fd := range fds {
		link, err := os.Readlink(fd)
		if err != nil || !strings.HasPrefix(link, "socket:[") {
			continue
		}
		if inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
			return strconv.Atoi(strings.Split(fd, "/")[2])
		}
	}
	return 0, fmt.Errorf("no process readable here holds the socket listening on port %d", port)
}

// listeningInodes adds to inodes those of the sockets in the table file
// (the format of /proc/net/tcp) that listen on port.
func listeningInodes(file string, port uint16, inodes map[string]bool) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "0A" { // 0A: LISTEN
			continue
		}
		_, hexPort, ok := strings.Cut(fields[1], ":")
		if p, err := strconv.ParseUint(hexPort, 16, 16); ok && err == nil && uint16(p) == port {
			inodes[fields[9]] = true
		}
	}
	return sc.Err()
}

// sample returns b's CPU time, and false when b is nil (the broker was
// not found) or its CPU time cannot be read (its process went away).
func (b *brokerProc) sample() (time.Duration, bool) {
	if b == nil {
		return 0, false
	}
	d, err := b.cpu()
	return d, err == nil
}

// cpu returns the CPU time, user and system, the broker has used so far.
func (b *brokerProc) cpu() (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", b.pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// the fields counted from 3 start after its closing one.
	s := string(raw)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected %q", b.pid, s)
	}
	fields := strings.Fields(s[end+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected %q", b.pid, s)
	}
	var ticks int64
	for _, f := range fields[11:13] { // utime and stime, fields 14 and 15
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", b.pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}
