package docker

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// The stack's containers run in the host's network namespace, each server
// bound to a loopback address of its own in a /24 block the run chose, on
// its usual port: Postgres at 127.A.B.1:5432, Redis at .2:6379, Mongo at
// .3:27017, Route53 at .4:4566 (DNS on .4:53), Toxiproxy at .5:8474 with
// the proxy links on .5:20000 and up, and the run's reaper at .6:7070. Nothing is published, so no byte
// crosses docker-proxy (Docker's userland proxy, one process per published
// port, which copied every query of every service twice more in user space)
// or a bridge; a service keeps its address across a container restart; and
// two runs never collide (each run draws its own block and checks it is
// free).
const (
	slotPostgres = 1 + iota
	slotRedis
	slotMongo
	slotRoute53
	slotToxiproxy
	slotReaper
)

// addresses is a run's block of loopback addresses, 127.A.B.0/24.
type addresses struct{ a, b byte }

// of returns the address of a slot in the block.
func (ad addresses) of(slot int) string {
	return netip.AddrFrom4([4]byte{127, ad.a, ad.b, byte(slot)}).String()
}

// hostPort returns "address:port" of a slot.
func (ad addresses) hostPort(slot, port int) string {
	return net.JoinHostPort(ad.of(slot), strconv.Itoa(port))
}

// The second octet of a run's block is drawn from [firstA, firstA+spanA):
// away from 127.0.0.0/16, where the platforms, the partner endpoint and the
// embedded driver live.
const (
	firstA = 100
	spanA  = 100
)

// reserveAddresses draws a block at random and checks that every port the
// stack will bind in it (with links proxy links) is free, trying again
// with another block when one is taken.
func reserveAddresses(links int) (addresses, error) {
	var lastErr error
	for range 16 {
		var r [2]byte
		if _, err := rand.Read(r[:]); err != nil {
			return addresses{}, fmt.Errorf("choose loopback addresses: %w", err)
		}
		ad := addresses{a: firstA + r[0]%spanA, b: r[1]}
		if lastErr = ad.free(links); lastErr == nil {
			return ad, nil
		}
	}
	return addresses{}, fmt.Errorf("no free block of loopback addresses for the stack: %w", lastErr)
}

// free checks that every (address, port) the stack binds is free now.
func (ad addresses) free(links int) error {
	tcp := []string{
		ad.hostPort(slotPostgres, postgresPort),
		ad.hostPort(slotRedis, redisPort),
		ad.hostPort(slotMongo, mongoPort),
		ad.hostPort(slotRoute53, localstackPort),
		ad.hostPort(slotRoute53, dnsPort),
		ad.hostPort(slotToxiproxy, toxiproxyPort),
		ad.hostPort(slotReaper, reaperPort),
	}
	for i := range links {
		tcp = append(tcp, ad.hostPort(slotToxiproxy, firstLinkPort+i))
	}
	var errs []error
	for _, a := range tcp {
		l, err := net.Listen("tcp", a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		l.Close()
	}
	u, err := net.ListenPacket("udp", ad.hostPort(slotRoute53, dnsPort))
	if err != nil {
		errs = append(errs, err)
	} else {
		_ = u.Close()
	}
	return errors.Join(errs...)
}
