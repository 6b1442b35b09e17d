/*
 * prompt.c - asking the operator for a secret (unseal key, password,
 * token) on the terminal, without echo.
 *
 * Owns the terminal's mode while it reads: echo goes off only when
 * standard input is a terminal and is always restored before returning.
 * Must never echo the secret and never leave a copy of it outside the
 * caller's buffer (the partial line is wiped on failure).
 */
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "common/err.h"
#include "common/secret.h"

int cli_prompt_secret(const char *prompt, char *buf, size_t size)
{
    struct termios saved;
    struct termios quiet;
    bool tty = isatty(STDIN_FILENO) != 0;
    bool restore = false;
    size_t len;
    int r = KH_EINTERNAL;

    KH_ASSERT(prompt != NULL && buf != NULL && size > 1);
    fprintf(stderr, "%s", prompt);
    (void)fflush(stderr);
    if (tty && tcgetattr(STDIN_FILENO, &saved) == 0) {
        quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        quiet.c_lflag |= ECHONL;
        restore = tcsetattr(STDIN_FILENO, TCSANOW, &quiet) == 0;
    }
    if (fgets(buf, (int)size, stdin) == NULL) {
        r = KH_EIO;
        goto out;
    }
    len = strlen(buf);
    if (len > 0 && buf[len - 1] == '\n')
        buf[--len] = '\0';
    else if (len == size - 1 && !feof(stdin)) {
        r = KH_ETOOBIG;
        goto out;
    }
    if (len > 0 && buf[len - 1] == '\r')
        buf[--len] = '\0';
    r = 0; /* success */
out:
    if (restore)
        (void)tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    if (!tty)
        fprintf(stderr, "\n");
    if (r < 0)
        kh_wipe(buf, size);
    return r;
}
