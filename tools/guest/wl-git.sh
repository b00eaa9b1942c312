# git: one commit per record in /mnt/repo (a file rec-N holding record
# N's block), with core.fsync from wg.git (core.fsyncMethod=fsync);
# record N is announced after `git commit` returned 0.
[ "$wg_fs" != raw ] || { echo "WG fatal the git workload needs a filesystem"; return; }
export HOME=/tmp GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z"
git init -q /mnt/repo 2>/dev/null || { wg_fail "git init"; return; }
cd /mnt/repo || { wg_fail "cd"; return; }
git config user.name wcache-guest && git config user.email wg@guest &&
  git config core.fsyncMethod fsync &&
  if [ "$wg_git" = default ]; then :; else git config core.fsync "$wg_git"; fi ||
  { wg_fail "git config"; cd /; return; }
# The empty repository is the starting state, made durable before the
# first record (sync(2) flushes the filesystem; it reports no error, so
# the setup is checked by reading the repository back).
sync
git rev-parse --git-dir >/dev/null || { wg_fail "git repository"; cd /; return; }
i=1
while [ $i -le $wg_n ]; do
  wg_block $i > rec-$i || { wg_fail "record $i"; break; }
  git add rec-$i || { wg_fail "git add $i"; break; }
  git commit -q -m "record $i" >/dev/null || { wg_fail "git commit $i"; break; }
  wg_durable $i
  i=$((i + 1))
done
cd /
