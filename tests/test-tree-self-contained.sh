#!/usr/bin/env bash
# The tree stands on its own: no file of it names a Markdown document that
# is not in the repository, or a man page of wcache that the build does not
# make.  Code, tests and man pages cite wcache(7) and the other pages; a
# document kept elsewhere is one the reader of the code never sees.
#
# The files checked: `git ls-files` in a git checkout; otherwise (a release
# tarball) the files of the unpacked source tree, which are the distributed
# ones.  A reference is
#   a document  a name ending in .md, not a URL, whose base name has 3
#               characters or more before .md (so that a C field such as
#               r.md is not one): it must be a file of the tree, by its path
#               from the top or from the citing file's directory, or by its
#               base name;
#   PAGE(N)     where PAGE is nbdkit-wcache-filter or starts with wcache:
#               the tree must hold man/PAGE.pod and Makefile.am must build
#               man/PAGE.N.
# A probe first proves that the scan finds both kinds of bad reference.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

cd "$top_srcdir" || bail "cd $top_srcdir"
top=$(pwd -P)

files=()
if command -v git >/dev/null 2>&1 &&
   [ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$top" ]; then
  source_of_files="git ls-files"
  mapfile -t files < <(git ls-files)
else
  # Not a checkout: skip what a build in the tree adds (objects are
  # binary and skipped by grep -I; logs and man pages are text).
  source_of_files="the unpacked tree (no git checkout)"
  mapfile -t files < <(find . \( -name .git -o -name autom4te.cache \
                                 -o -name .libs -o -name .deps \
                                 -o -path ./tests/guest-cache \) -prune \
                              -o -type f ! -name '*.log' ! -name '*.trs' \
                              ! -path './man/*.[1-9]' -print |
                         sed 's|^\./||' | LC_ALL=C sort)
fi
[ ${#files[@]} -gt 0 ] || bail "no files found in $top"
echo "# ${#files[@]} files from $source_of_files"

declare -A have have_base
for f in "${files[@]}"; do
  have[$f]=1
  have_base[${f##*/}]=1
done

md_re='[A-Za-z0-9_./:~-]*\.md([^A-Za-z0-9_]|$)'
man_re='(^|[^A-Za-z0-9_.-])(nbdkit-wcache-filter|wcache[A-Za-z0-9-]*)\([0-9]\)'

# md_ok FILE TOKEN: whether TOKEN, named in FILE, is a document of the tree
# (or not a document reference at all).
md_ok ()
{
  local file=$1 tok=${2#./} base stem dir
  [[ $tok == *://* ]] && return 0
  base=${tok##*/}
  stem=${base%.md}
  [ ${#stem} -ge 3 ] || return 0
  [ -n "${have[$tok]:-}" ] && return 0
  dir=${file%/*}
  [ "$dir" != "$file" ] && [ -n "${have[$dir/$tok]:-}" ] && return 0
  [ "$tok" = "$base" ] && [ -n "${have_base[$base]:-}" ] && return 0
  return 1
}

# man_ok PAGE SECTION: the page's pod is in the tree and the build makes it.
man_ok ()
{
  [ -n "${have[man/$1.pod]:-}" ] &&
    grep -qF "man/$1.$2" Makefile.am
}

# scan FILE...: prints "FILE:LINE: REFERENCE" for every bad reference.
scan ()
{
  local hit file rest line tok page sec

  printf '%s\0' "$@" | xargs -0 grep -I -H -n -o -E -e "$md_re" -- |
    while IFS= read -r hit; do
      file=${hit%%:*} rest=${hit#*:}
      line=${rest%%:*} tok=${rest#*:}
      [[ $tok == *.md ]] || tok=${tok%?}
      md_ok "$file" "$tok" || echo "$file:$line: $tok"
    done
  printf '%s\0' "$@" | xargs -0 grep -I -H -n -o -E -e "$man_re" -- |
    while IFS= read -r hit; do
      file=${hit%%:*} rest=${hit#*:}
      line=${rest%%:*} tok=${rest#*:}
      [[ $tok == [a-z]* ]] || tok=${tok:1}
      page=${tok%%(*} sec=${tok#*(}
      sec=${sec%)}
      man_ok "$page" "$sec" || echo "$file:$line: $tok"
    done
}

# The probe: bad references of both kinds are found, good ones and a C
# field are not.  The bad names are built here so that this file names none.
probe=$tmpdir/probe.c
missing_doc="NOTES-ON-NOTHING"".md"
missing_page="wcache-nothing""(1)"
unbuilt_page="wcachectl""(8)"
cat > "$probe" <<EOF
/* See $missing_doc, $missing_page and $unbuilt_page. */
/* See README.md and wcache(7), and https://example.org/$missing_doc. */
r.md = 0;
EOF
probe_out=$(scan "$probe")
echo "$probe_out" | sed 's/^/# probe: /'
check "the scan finds a missing .md document" \
  grep -qF "$missing_doc" <<< "$probe_out"
check "the scan finds a man page that has no pod" \
  grep -qF "$missing_page" <<< "$probe_out"
check "the scan finds a man page the build does not make in that section" \
  grep -qF "$unbuilt_page" <<< "$probe_out"
check "the scan finds nothing else in the probe (README.md, wcache(7), a URL, a C field)" \
  test "$(wc -l <<< "$probe_out")" = 3

# The tree.
out=$(scan "${files[@]}")
if [ -n "$out" ]; then
  echo "$out" | sed 's/^/# not in the tree: /'
fi
check "no file names a .md document or a wcache man page that the tree does not hold" \
  test -z "$out"
check "wcache(7) is in the tree and built" man_ok wcache 7

done_testing
