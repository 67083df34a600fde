#!/bin/bash
# Interleaved before/after benchmark runs: the same machine, one run.
B=/work/wt/before; A=/work/main
run() { # tag bin dir args...
  local tag=$1 bin=$2 dir=$3; shift 3
  (cd $dir && /tmp/bb/$bin "$@") >> /tmp/bb/$tag.txt 2>/tmp/bb/$tag.err
}
echo "# loadavg start: $(cat /proc/loadavg)" > /tmp/bb/progress
for i in 1 2 3 4 5 6; do
  run winrm-before lab.before $B/internal/lab -test.run '^$' -test.bench 'HeartbeatPoll200' -test.benchtime 1x -test.count 1
  run winrm-after lab.after $A/internal/lab/direct -test.run '^$' -test.bench 'HeartbeatPoll200' -test.benchtime 1x -test.count 1
done
echo "# winrm done $(date) $(cat /proc/loadavg)" >> /tmp/bb/progress
for i in 1 2 3 4 5 6; do
  OPS_BENCH_CAPACITY_HOSTS=2000 run ticks-before sched.before $B/internal/scheduler -test.run '^$' -test.bench 'HeartbeatTickCapacity/hosts=2000/conc=512$' -test.benchtime 3x -test.count 1 -test.timeout 30m
  OPS_BENCH_CAPACITY_HOSTS=2000 run ticks-after sched.after $A/internal/scheduler -test.run '^$' -test.bench 'HeartbeatTickCapacity/hosts=2000/conc=512$' -test.benchtime 3x -test.count 1 -test.timeout 30m
done
echo "# ticks done $(date) $(cat /proc/loadavg)" >> /tmp/bb/progress
for i in 1 2 3; do
  run api-before api.before $B/cmd/ops-worker -test.run '^$' -test.bench . -test.benchtime 3s -test.count 1 -test.timeout 30m
  run api-after api.after $A/cmd/ops-worker -test.run '^$' -test.bench . -test.benchtime 3s -test.count 1 -test.timeout 30m
done
echo "# api done $(date) $(cat /proc/loadavg)" >> /tmp/bb/progress
