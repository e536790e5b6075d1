# Sourced by bench/ab.sh and bench/warm.sh.
# port_of LOG PID: the first "port":N a server (kvsgate, the emulator, the bare
# server) logs in LOG, waiting up to 20 s while PID lives; its log on failure.
port_of() {
    for _ in $(seq 1 200); do
        local p
        p=$(grep -o '"port":[0-9]*' "$1" 2>/dev/null | head -1 | cut -d: -f2 || true)
        [ -n "$p" ] && { echo "$p"; return 0; }
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    cat "$1" >&2
    return 1
}
