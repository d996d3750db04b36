#!/bin/sh
# Entrypoint of cutover's local redis image: the upstream image's contract.
set -e

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

if [ "$1" = 'redis-server' ]; then
	if [ "$(id -u)" = '0' ]; then
		chown -R redis:redis /data 2>/dev/null || true
		exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
	fi
	# Debian's redis-server defaults to protected mode when started without
	# a config file; the upstream image is built with it off.
	# A config file must stay the first argument.
	shift
	if [ "${1%.conf}" != "${1:-}" ]; then
		conf=$1
		shift
		set -- redis-server "$conf" --protected-mode no "$@"
	else
		set -- redis-server --protected-mode no "$@"
	fi
fi

exec "$@"
