# Sourced by bench/ab.sh and bench/warm.sh.
# port_of LOG PID: the "port":N of the line where a server (kvsgate, the
# emulator, the bare server) says it listens ("event":"listening" or "ready";
# other lines name other ports, e.g. Redis's) in LOG, waiting up to 20 s while
# PID lives; its log on failure.
port_of() {
    for _ in $(seq 1 200); do
        local p
        p=$(grep -E '"event":"(listening|ready)"' "$1" 2>/dev/null | grep -o '"port":[0-9]*' |
            head -1 | cut -d: -f2 || true)
        [ -n "$p" ] && { echo "$p"; return 0; }
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    cat "$1" >&2
    return 1
}
