//go:build !linux

package main

import "errors"

const readSize = 64 << 10

func startEpoll(listen string, nodes []string, loops int) (server, error) {
	return nil, errors.New("loopproto: the epoll design needs Linux")
}

func startUring(listen string, nodes []string, loops int) (server, error) {
	return nil, errors.New("loopproto: the uring design needs Linux")
}

func startUringEW(listen string, nodes []string, loops int) (server, error) {
	return nil, errors.New("loopproto: the uring-ew design needs Linux")
}
