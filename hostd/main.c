/*
 * main.c - keyholdd: parse the command line, load the configuration (or
 * set up dev mode), harden the process, open the core, start the
 * listeners, and wait for signals: SIGTERM/SIGINT stop cleanly, SIGHUP
 * reloads the log level and TLS certificates.
 *
 * Signals are blocked in every thread and taken synchronously here with
 * sigwait(), so no handler runs in an arbitrary context.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "config/config.h"
#include "core/core.h"
#include "http/server.h"
#include "server/dev_mode.h"
#include "server/json_alloc.h"

#define EXIT_USAGE 2

struct options
{
    const char *config_paths[KH_CONFIG_FILES_MAX];
    size_t config_count;
    bool dev;
    struct dev_mode_options dev_options;
    const char *log_level;
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: keyholdd -config=FILE|DIR [-config=...] [-log-level=L]\n"
            "       keyholdd -dev [-dev-root-token-id=ID]\n"
            "                [-dev-listen-address=HOST:PORT]\n"
            "                [-dev-seal=pkcs11|shamir]\n"
            "       keyholdd -version\n");
}

/* "-name=value", "--name=value" or "-name value". */
static const char *flag_value(int argc, char **argv, int *i, const char *name)
{
    const char *arg = argv[*i];
    size_t len = strlen(name);

    if (arg[0] == '-' && arg[1] == '-')
        arg++;
    if (arg[0] != '-' || strncmp(arg + 1, name, len) != 0)
        return NULL;
    if (arg[1 + len] == '=')
        return arg + 2 + len;
    if (arg[1 + len] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    int i;

    memset(o, 0, sizeof(*o));
    o->dev_options.seal_type = "pkcs11";
    for (i = 1; i < argc; i++) {
        const char *v;
        const char *a = argv[i][1] == '-' ? argv[i] + 1 : argv[i];
        if (strcmp(a, "-dev") == 0) {
            o->dev = true;
        } else if (strcmp(a, "-version") == 0) {
            printf("Keyhold v%s\n", KH_VERSION);
            exit(0);
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "-help") == 0) {
            usage(stdout);
            exit(0);
        } else if ((v = flag_value(argc, argv, &i, "config")) != NULL) {
            if (o->config_count == KH_CONFIG_FILES_MAX)
                return KH_ELIMIT;
            o->config_paths[o->config_count++] = v;
        } else if ((v = flag_value(argc, argv, &i, "dev-root-token-id"))) {
            o->dev_options.root_token_id = v;
        } else if ((v = flag_value(argc, argv, &i, "dev-listen-address"))) {
            o->dev_options.listen_address = v;
        } else if ((v = flag_value(argc, argv, &i, "dev-seal"))) {
            if (strcmp(v, "shamir") != 0 && strcmp(v, "pkcs11") != 0)
                return KH_EINVAL;
            o->dev_options.seal_type = v;
        } else if ((v = flag_value(argc, argv, &i, "log-level"))) {
            o->log_level = v;
        } else {
            fprintf(stderr, "keyholdd: unknown argument \"%s\"\n", argv[i]);
            return KH_EINVAL;
        }
    }
    if (o->dev == (o->config_count > 0))
        return KH_EINVAL;
    return 0;
}

static int apply_logging(const struct kh_config *config, const char *flag)
{
    enum kh_log_level level = KH_LOG_INFO;
    const char *text = flag != NULL ? flag : config->log_level;

    if (text != NULL && kh_log_level_parse(text, &level) != 0) {
        fprintf(stderr, "keyholdd: unknown log level \"%s\"\n", text);
        return KH_ECONFIG;
    }
    kh_log_set_level(level);
    kh_log_set_json(config->log_format != NULL &&
                    strcmp(config->log_format, "json") == 0);
    return 0;
}

/* SIGHUP: re-read the configuration for the log level, reload TLS. */
static void reload(const struct options *o, struct http_server *server)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct kh_config *fresh = NULL;

    log_info("reload: SIGHUP received");
    if (!o->dev) {
        if (kh_config_load(o->config_paths, o->config_count, &fresh, errmsg,
                           sizeof(errmsg)) != 0)
            log_error("reload: configuration not reloaded: %s", errmsg);
        else if (apply_logging(fresh, o->log_level) == 0)
            log_info("reload: log level applied");
        kh_config_free(fresh);
    }
    if (http_server_reload_tls(server, errmsg, sizeof(errmsg)) != 0)
        log_error("reload: TLS certificates not reloaded: %s", errmsg);
}

static int serve(const struct options *o, struct kh_config *config,
                 struct dev_mode *dev)
{
    struct kh_core_options core_options = {config, !o->dev};
    struct kh_core *core = NULL;
    struct http_server *server = NULL;
    char errmsg[KH_ERRMSG_SIZE] = "";
    sigset_t signals;
    int r, sig = 0;

    r = kh_core_open(&core_options, &core, errmsg, sizeof(errmsg));
    if (r == 0 && o->dev)
        r = dev_mode_initialize(&o->dev_options, dev, core, errmsg,
                                sizeof(errmsg));
    if (r == 0)
        r = http_server_start(core, config->listeners,
                              config->listener_count, &server, errmsg,
                              sizeof(errmsg));
    if (r != 0) {
        log_error("start: %s", errmsg[0] ? errmsg : kh_strerror(r));
        goto out;
    }
    if (o->dev)
        dev_mode_print_banner(dev, config->listeners[0].address);
    log_info("keyholdd %s listening on %s", KH_VERSION,
             config->listeners[0].address);
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
        reload(o, server);
        audit_broker_reopen(core->audit); /* rotated audit files */
    }
    log_info("shutdown: signal %d, stopping", sig);
out:
    http_server_stop(server);
    kh_core_close(core);
    return r;
}

static int load_config(const struct options *o, struct kh_config **config,
                       struct dev_mode *dev)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    int r;

    if (o->dev)
        r = dev_mode_prepare(&o->dev_options, dev, config, errmsg,
                             sizeof(errmsg));
    else
        r = kh_config_load(o->config_paths, o->config_count, config, errmsg,
                           sizeof(errmsg));
    if (r == 0 && (*config)->listener_count == 0)
        r = kh_errmsg(errmsg, sizeof(errmsg), KH_ECONFIG,
                      "no listener \"tcp\" block in the configuration");
    if (r == 0 && (*config)->storage.type == NULL)
        r = kh_errmsg(errmsg, sizeof(errmsg), KH_ECONFIG,
                      "no storage block in the configuration");
    if (r != 0)
        fprintf(stderr, "keyholdd: %s\n", errmsg[0] ? errmsg
                                                    : kh_strerror(r));
    return r;
}

int main(int argc, char **argv)
{
    struct options o;
    struct kh_config *config = NULL;
    struct dev_mode dev;
    char errmsg[KH_ERRMSG_SIZE] = "";
    sigset_t signals;
    int r;

    memset(&dev, 0, sizeof(dev));
    if (parse_args(argc, argv, &o) != 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    /* Before any thread exists: block signals, set up libraries. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    json_alloc_install_wiping();
    curl_global_init(CURL_GLOBAL_DEFAULT);

    r = load_config(&o, &config, &dev);
    if (r == 0)
        r = apply_logging(config, o.log_level);
    if (r != 0)
        goto out;
    if (config->disable_mlock && !o.dev)
        log_warn("disable_mlock is set: key material may be swapped to "
                 "disk");
    r = kh_harden_process(config->disable_mlock, errmsg, sizeof(errmsg));
    if (r != 0) {
        log_error("start: %s", errmsg);
        goto out;
    }
    r = serve(&o, config, &dev);
out:
    kh_config_free(config);
    if (o.dev)
        dev_mode_cleanup(&dev);
    curl_global_cleanup();
    return r == 0 ? 0 : 1;
}
