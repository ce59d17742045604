#!/bin/bash
# Alternates single `engine 1 warm` runs of two lockdep-bench binaries (OLD, NEW) N times and
# prints both medians and the pairwise ratio (the host is noisy: compare within one run).
# usage: scripts/engine-ab.sh OLD NEW [N]
old=$1; new=$2; n=${3:-10}
o=(); w=()
for i in $(seq $n); do
  o+=($($old engine 1 warm 2>&1 | head -1 | sed 's/.*median \([0-9.]*\) M.*/\1/'))
  w+=($($new engine 1 warm 2>&1 | head -1 | sed 's/.*median \([0-9.]*\) M.*/\1/'))
done
echo "old: ${o[*]}"; echo "new: ${w[*]}"
python3 -c "
import statistics as s
o=[float(x) for x in '${o[*]}'.split()]; w=[float(x) for x in '${w[*]}'.split()]
print('median old %.1f new %.1f ratio new/old %.3f; pairwise ratio median %.3f' % (s.median(o), s.median(w), s.median(w)/s.median(o), s.median([b/a for a,b in zip(o,w)])))"
