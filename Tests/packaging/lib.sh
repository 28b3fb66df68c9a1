# shellcheck shell=bash
# Shared by the packaging tests: where the Swift toolchain lives, and running a command where it
# does not. Sourced, not run.

# The toolchain's top directory (/opt/swift for swift.org's tarball in /opt/swift/usr/bin). A
# toolchain installed in /usr cannot be hidden whole: then its runtime directory, usr/lib/swift.
toolchain_dir() {
    if [ -n "${TOOLCHAIN_DIR:-}" ]; then echo "$TOOLCHAIN_DIR"; return; fi
    local swift usr
    swift=$(readlink -f "$(command -v swift)") || { echo "no swift on PATH" >&2; return 1; }
    usr=$(dirname "$(dirname "$swift")")
    if [ "$usr" = /usr ]; then echo /usr/lib/swift; else dirname "$usr"; fi
}

# hidden CMD...: runs CMD in a mount namespace of its own where the toolchain's directory is an
# empty read-only tmpfs. Nothing outside the namespace sees the mount; it ends with CMD.
hidden() {
    local dir
    dir=$(toolchain_dir)
    unshare --mount --propagation private -- bash -c '
        set -e
        dir=$1; shift
        mount -t tmpfs -o ro,size=4k,mode=0755 finwatch-no-toolchain "$dir"
        if [ -n "$(ls -A "$dir")" ]; then echo "$dir is not hidden" >&2; exit 1; fi
        exec "$@"' hidden "$dir" "$@"
}

fail() { echo "FAIL: $*" >&2; exit 1; }

# in_root ROOT USER:GROUP CMD...: CMD chrooted in ROOT as that user, with /proc mounted there as a
# container runtime mounts it (the Swift runtime reads /proc/self: without it finwatch dies of
# SIGILL), in a mount namespace where the host's toolchain is hidden too. At most 60 s.
in_root() {
    local root=$1 user=$2
    shift 2
    hidden bash -c 'root=$1 user=$2; shift 2
        mount -t proc proc "$root/proc"
        exec timeout 60 chroot --userspec="$user" "$root" "$@"' in_root "$root" "$user" "$@"
}
