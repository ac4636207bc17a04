# Shared helpers for the project's shell scripts (sourced, not run).

# Where built artefacts (guest kernel, images, sandbox initramfs) are cached:
# outside the tree, per user, reused across checkouts.
cache_root() {
    echo "${VMM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vmm-platform}"
}

die() {
    echo "$(basename "$0"): $*" >&2
    exit 1
}

note() {
    echo "$(basename "$0"): $*" >&2
}

# need_cmd CMD PACKAGE: fail at once, naming the package, when CMD is missing.
need_cmd() {
    command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] ||
        die "'$1' not found: install the Debian package '$2' (make deps)"
}

# hash_of FILE...: a short content hash identifying a cached build.
hash_of() {
    cat "$@" | sha256sum | cut -c1-16
}

# run_with_progress LOG LABEL CMD...: run CMD with its output in LOG, printing
# a progress line every 20 s; on failure print the log's tail and fail.
run_with_progress() {
    log=$1 label=$2
    shift 2
    start=$(date +%s)
    "$@" >"$log" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        sleep 2
        now=$(date +%s)
        if [ $(((now - start) % 20)) -lt 2 ] && [ "$now" != "$start" ]; then
            note "$label: $((now - start)) s, $(grep -c -E '^\s+(CC|LD|AR|AS)' "$log" 2>/dev/null || echo 0) objects, last: $(tail -n 1 "$log" | cut -c1-60)"
        fi
    done
    if ! wait "$pid"; then
        tail -n 40 "$log" >&2
        die "$label failed after $(($(date +%s) - start)) s; full log: $log"
    fi
    note "$label: done in $(($(date +%s) - start)) s"
}
