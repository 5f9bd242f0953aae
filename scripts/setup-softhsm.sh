#!/usr/bin/env bash
# Installs SoftHSM2 (Debian's softhsm2: the PKCS #11 module and
# softhsm2-util) for the PKCS #11 tests, if it is missing. The tests make
# their own tokens in temporary directories; without SoftHSM2 they skip,
# saying so. This script never fails the caller: it says what went wrong.
set -u

have() {
	command -v softhsm2-util >/dev/null 2>&1 || return 1
	for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so \
		/usr/lib64/softhsm/libsofthsm2.so /usr/lib64/pkcs11/libsofthsm2.so \
		/usr/local/lib/softhsm/libsofthsm2.so /opt/homebrew/lib/softhsm/libsofthsm2.so; do
		[ -e "$m" ] && return 0
	done
	return 1
}

if have; then
	echo "setup-softhsm: SoftHSM2 is installed"
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "setup-softhsm: SoftHSM2 is missing and there is no apt-get: install softhsm2 by hand; the PKCS #11 tests will skip" >&2
	exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo="sudo -n"
	else
		echo "setup-softhsm: SoftHSM2 is missing, and installing it needs root: run apt-get install softhsm2 as root; the PKCS #11 tests will skip" >&2
		exit 0
	fi
fi
echo "setup-softhsm: installing softhsm2 with apt-get"
if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq; then
	echo "setup-softhsm: apt-get update failed; trying the install with the package lists as they are" >&2
fi
if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2 >/dev/null; then
	echo "setup-softhsm: apt-get install softhsm2 failed: the PKCS #11 tests will skip" >&2
	exit 0
fi
if have; then
	echo "setup-softhsm: SoftHSM2 installed"
else
	echo "setup-softhsm: softhsm2 installed, but its module or softhsm2-util is not where the tests look: they will skip" >&2
fi
exit 0
