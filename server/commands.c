/* The control protocol's command documentation (commands.h). */
#include <config.h>

#include "commands.h"

const struct wc_command_doc wc_command_docs[WC_CMD_COUNT] = {
  [WC_CMD_MODE] = { "mode", "mode [NAME]",
                    "query the cache mode, or switch it (S5)" },
  [WC_CMD_CACHE_TYPE] = { "cache-type",
                          "cache-type [write back|write through]",
                          "switch the volatile cache on or off, keeping the "
                          "host flags (S5)" },
  [WC_CMD_FLUSH] = { "flush", "flush",
                     "write back everything now, even in unsafe mode" },
  [WC_CMD_POWER_CUT] = { "power-cut",
                         "power-cut [policy=P] [seed=N] [p=F] [unit=BYTES] "
                         "[after=writes:N|flushes:N|bytes:N|ms:N|mark:NAME]"
                         " | power-cut cancel",
                         "cut the power now, or arm a cut (S8, S9)" },
  [WC_CMD_POWER_ON] = { "power-on", "power-on",
                        "restore power: the disk serves the media, the cache "
                        "empty" },
  [WC_CMD_STATUS] = { "status", "status",
                      "power, mode, dirty data, counters, armed trigger, "
                      "last cut" },
  [WC_CMD_MARK] = { "mark", "mark TEXT",
                    "a named point: fires a cut armed with after=mark:TEXT" },
  [WC_CMD_LOG] = { "log", "log start PATH [sector-size=N] | log stop",
                   "start or stop the write log (dm-log-writes format)" },
  [WC_CMD_HELP] = { "help", "help", "this list" },
};
