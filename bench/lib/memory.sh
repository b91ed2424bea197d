# Shared by the bench scripts (sourced, not run): the server's memory while a load runs.
# The server's memory, not counted once per mapping. Every SQLite reader connection maps the
# database file, and VmRSS/VmHWM count a mapped page once per mapping (16 readers: up to 16 times);
# PSS (/proc/PID/smaps_rollup) divides a page among its mappings, so the file counts once.
# RssAnon: the memory the server allocated itself. `pss_watch PID FILE [SECONDS] &` keeps PID's
# peak PSS in FILE (KiB), sampled every SECONDS (0.5) on CPU 1, off the server's core (a sample
# walks every mapped page: ~55 ms at 16 mappings of a 281 MB file); it ends by itself when PID or
# this script is gone. `pss_stop WATCHER` stops it (in the shell that started it, to wait for it);
# then `pss_peak PID FILE` prints the peak, with one last sample.
pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || true; }
anon_kb() { awk '/^RssAnon/ {print $2}' "/proc/$1/status"; }
pss_watch() {
  local pid=$1 file=$2 every=${3:-0.5} peak=0 kb
  taskset -pc 1 "$BASHPID" || true
  echo 0 > "$file"
  while kill -0 "$$"; do
    kb=$(pss_kb "$pid")
    [ -n "$kb" ] || break  # PID has exited
    if [ "$kb" -gt "$peak" ]; then peak=$kb; echo "$peak" > "$file.new"; mv -f "$file.new" "$file"; fi
    sleep "$every"
  done
} >/dev/null 2>&1
pss_stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
pss_peak() {
  local peak kb; peak=$(cat "$2" 2>/dev/null || true); kb=$(pss_kb "$1")
  rm -f "$2" "$2.new"
  echo $(( ${kb:-0} > ${peak:-0} ? ${kb:-0} : ${peak:-0} ))
}
mib() { echo $(( ($1 + 512) / 1024 )); }
