# wcache-guest: helpers for guest workloads (busybox sh).
# A record is one 4096-byte block of 64 identical 64-byte lines:
#   "WCREC seed=SSSSSSSSSS rec=NNNNNNNN " padded with '.' and a newline,
# so every 512-byte sector names its run seed and record number.

# wg_block N: prints record N's 4096 bytes on stdout.
wg_block ()
{
  _l=$(printf 'WCREC seed=%010u rec=%08u ............................' "$wg_seed" "$1")
  _l="$_l
"
  _b="$_l$_l"; _b="$_b$_b"; _b="$_b$_b"; _b="$_b$_b"; _b="$_b$_b"; _b="$_b$_b"
  printf '%s' "$_b"
}

# wg_write N FILE BLOCKNO [DDFLAGS...]: writes record N at block BLOCKNO.
wg_write ()
{
  _n=$1 _f=$2 _s=$3
  shift 3
  wg_block "$_n" | dd of="$_f" bs=4096 count=1 seek="$_s" iflag=fullblock "$@" 2>/dev/null
}

# wg_durable N: tell the host that record N is durable.  Call only after
# the fsync/sync that makes it so has returned successfully.
wg_durable () { echo "WG record $1 durable"; }

wg_fail () { echo "WG error $*"; }

# Raw-disk records start at 1 MiB (block 256).
WG_RAW_BASE=256
