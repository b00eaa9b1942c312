/* The control protocol's commands as users read them: name, synopsis and
 * one line of help.  One table, shared by the server (its `help` reply and
 * its dispatch, protocol.c) and wcachectl (--help), so the two cannot
 * disagree.  The order is the order of `help`. */
#ifndef WC_COMMANDS_H
#define WC_COMMANDS_H

#include <stddef.h>

enum wc_command_id {
  WC_CMD_MODE,
  WC_CMD_CACHE_TYPE,
  WC_CMD_FLUSH,
  WC_CMD_POWER_CUT,
  WC_CMD_POWER_ON,
  WC_CMD_STATUS,
  WC_CMD_MARK,
  WC_CMD_LOG,
  WC_CMD_HELP,
  WC_CMD_COUNT
};

struct wc_command_doc {
  const char *name;
  const char *synopsis;
  const char *help;
};

extern const struct wc_command_doc wc_command_docs[WC_CMD_COUNT];

#endif /* WC_COMMANDS_H */
