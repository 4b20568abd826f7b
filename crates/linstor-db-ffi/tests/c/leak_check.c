/*
 * The C ABI used from C, as a C program would, and run under valgrind (scripts/test-bindings.sh) to
 * show that every string and context the library hands out is freed by its _free function and that
 * nothing else leaks. Each check prints "ok" or "FAIL"; the last line is "N passed, N failed".
 *
 * Built with -DLSDB_DELIBERATE_LEAK it leaks one report on purpose, to show that the check catches it.
 *
 * Usage: leak_check WORKDIR [ETCD_URL]
 *   WORKDIR   an empty directory for the export files
 *   ETCD_URL  etcd://127.0.0.1:PORT of an empty etcd (the checks that write a store need it)
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linstor_db.h"

static int passed, failed;

#define CHECK(cond, ...)                                                                            \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            fprintf(stderr, "  %s:%d: %s: ", __FILE__, __LINE__, #cond);                             \
            fprintf(stderr, __VA_ARGS__);                                                           \
            fprintf(stderr, "\n");                                                                  \
            return 0;                                                                               \
        }                                                                                           \
    } while (0)

static const char *workdir;
static const char *etcd_url;
static char export_file[4096];

static void run(const char *name, int (*check)(void)) {
    int ok = check();
    printf("%s %s\n", ok ? "ok  " : "FAIL", name);
    fflush(stdout);
    if (ok) {
        passed++;
    } else {
        failed++;
    }
}

/* The context's last error as a freshly allocated copy ("" when none), so that checks can compare it
 * after freeing the library's string. */
static char *last_error(const lsdb_context *ctx) {
    char *message = lsdb_context_last_error(ctx);
    char *copy = strdup(message ? message : "");
    lsdb_string_free(message);
    return copy;
}

static int contains(const char *text, const char *part) { return text && strstr(text, part) != NULL; }

static int check_version_and_status_text(void) {
    CHECK(strlen(lsdb_version()) > 0, "empty version");
    CHECK(strcmp(lsdb_status_describe(LSDB_STATUS_TARGET_NOT_EMPTY), "the target already holds a LINSTOR database") == 0,
          "got %s", lsdb_status_describe(LSDB_STATUS_TARGET_NOT_EMPTY));
    CHECK(strcmp(lsdb_status_describe(12345), "unknown status") == 0, "unknown code");
    return 1;
}

static int check_null_arguments(void) {
    char *report = (char *)"untouched";
    CHECK(lsdb_context_set_config_dir(NULL, "/x") == LSDB_STATUS_NULL_ARGUMENT, "NULL context");
    CHECK(lsdb_info(NULL, "k8s", &report) == LSDB_STATUS_NULL_ARGUMENT, "NULL context in a job");
    CHECK(lsdb_context_last_error(NULL) == NULL, "message of NULL context");
    lsdb_context_free(NULL);
    lsdb_string_free(NULL);

    lsdb_context *ctx = lsdb_context_new();
    CHECK(ctx != NULL, "lsdb_context_new");
    lsdb_status status = lsdb_export(ctx, "etcd://127.0.0.1:1", NULL, NULL, &report);
    char *message = last_error(ctx);
    int ok = status == LSDB_STATUS_NULL_ARGUMENT && report == NULL && contains(message, "`file` is NULL");
    if (!ok) fprintf(stderr, "  status %u, message %s\n", status, message);
    free(message);
    status = lsdb_info(ctx, "whatever.json", NULL);
    message = last_error(ctx);
    ok = ok && status == LSDB_STATUS_NULL_ARGUMENT && contains(message, "report_json");
    free(message);
    lsdb_context_free(ctx);
    CHECK(ok, "see above");
    return 1;
}

static int check_invalid_utf8_and_options(void) {
    lsdb_context *ctx = lsdb_context_new();
    CHECK(ctx != NULL, "lsdb_context_new");
    char *report = NULL;
    const char bad[] = {'d', 'b', (char)0xff, '.', 'j', 's', 'o', 'n', 0};
    lsdb_status utf8 = lsdb_info(ctx, bad, &report);
    char *utf8_message = last_error(ctx);
    lsdb_status options = lsdb_export(ctx, NULL, "/tmp/x.json", "{\"replace\": true, \"typo\": 1}", &report);
    char *options_message = last_error(ctx);
    lsdb_status store = lsdb_info(ctx, "ftp://nowhere", &report);
    char *store_message = last_error(ctx);
    lsdb_context_free(ctx);
    int ok = utf8 == LSDB_STATUS_INVALID_UTF8 && contains(utf8_message, "`store` is not valid UTF-8") &&
             options == LSDB_STATUS_INVALID_ARGUMENT && contains(options_message, "unknown field `typo`") &&
             store == LSDB_STATUS_INVALID_STORE && contains(store_message, "unknown scheme");
    if (!ok) fprintf(stderr, "  %u %s | %u %s | %u %s\n", utf8, utf8_message, options, options_message, store, store_message);
    free(utf8_message);
    free(options_message);
    free(store_message);
    CHECK(ok, "see above");
    return 1;
}

struct progress_count {
    int tables;
    int rows;
};

static void count_progress(void *user_data, const char *json) {
    struct progress_count *count = user_data;
    if (strstr(json, "\"kind\":\"table\"")) count->tables++;
    if (strstr(json, "\"kind\":\"rows\"")) count->rows++;
}

static int check_generate_info_verify_file(void) {
    lsdb_context *ctx = lsdb_context_new();
    CHECK(ctx != NULL, "lsdb_context_new");
    struct progress_count count = {0, 0};
    CHECK(lsdb_context_set_progress(ctx, count_progress, &count) == LSDB_STATUS_OK, "set progress");
    char *report = NULL;
    lsdb_status status = lsdb_generate(ctx, export_file, 300, 7, NULL, NULL, &report);
    int ok = status == LSDB_STATUS_OK && contains(report, "\"data_version\":\"v1-31-1\"") && count.tables > 10 &&
             count.rows > 0;
    if (!ok) fprintf(stderr, "  generate: %u %s, %d tables, %d row events\n", status, report, count.tables, count.rows);
    lsdb_string_free(report);
    report = NULL;

    status = lsdb_info(ctx, export_file, &report);
    ok = ok && status == LSDB_STATUS_OK && contains(report, "\"linstor_version\"");
    lsdb_string_free(report);
    report = NULL;

    status = lsdb_verify(ctx, export_file, export_file, NULL, &report);
    ok = ok && status == LSDB_STATUS_OK && contains(report, "\"equal\":true");
    if (!ok) fprintf(stderr, "  verify: %u %s\n", status, report);
    lsdb_string_free(report);
    lsdb_context_free(ctx);
    CHECK(ok, "see above");
    return 1;
}

static int check_missing_file(void) {
    lsdb_context *ctx = lsdb_context_new();
    CHECK(ctx != NULL, "lsdb_context_new");
    char *report = NULL;
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/missing.json", workdir);
    lsdb_status status = lsdb_info(ctx, missing, &report);
    char *message = last_error(ctx);
    lsdb_context_free(ctx);
    int ok = status == LSDB_STATUS_FILE && report == NULL && contains(message, "missing.json");
    if (!ok) fprintf(stderr, "  %u %s\n", status, message);
    free(message);
    CHECK(ok, "see above");
    return 1;
}

static int check_unreachable_etcd(void) {
    lsdb_context *ctx = lsdb_context_new();
    CHECK(ctx != NULL, "lsdb_context_new");
    char *report = NULL;
    lsdb_status status = lsdb_info(ctx, "etcd://127.0.0.1:1", &report);
    char *message = last_error(ctx);
    lsdb_context_free(ctx);
    int ok = status == LSDB_STATUS_CONNECT && contains(message, "cannot connect to etcd at 127.0.0.1:1");
    if (!ok) fprintf(stderr, "  %u %s\n", status, message);
    free(message);
    CHECK(ok, "see above");
    return 1;
}

static int check_cancel_before_start(void) {
    lsdb_context *ctx = lsdb_context_new();
    CHECK(ctx != NULL, "lsdb_context_new");
    char *report = NULL;
    CHECK(lsdb_context_cancel(ctx) == LSDB_STATUS_OK, "cancel");
    lsdb_status cancelled = lsdb_info(ctx, export_file, &report);
    CHECK(lsdb_context_reset_cancel(ctx) == LSDB_STATUS_OK, "reset");
    lsdb_status again = lsdb_info(ctx, export_file, &report);
    lsdb_string_free(report);
    lsdb_context_free(ctx);
    CHECK(cancelled == LSDB_STATUS_CANCELLED && again == LSDB_STATUS_OK, "%u then %u", cancelled, again);
    return 1;
}

/* A second thread tries a job on the busy context, then cancels the running one. */
struct other_thread {
    lsdb_context *ctx;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int job_running, done;
    lsdb_status busy_status;
};

static void block_until_other_thread_done(void *user_data, const char *json) {
    (void)json;
    struct other_thread *other = user_data;
    pthread_mutex_lock(&other->lock);
    other->job_running = 1;
    pthread_cond_broadcast(&other->changed);
    while (!other->done) pthread_cond_wait(&other->changed, &other->lock);
    pthread_mutex_unlock(&other->lock);
}

static void *try_and_cancel(void *arg) {
    struct other_thread *other = arg;
    pthread_mutex_lock(&other->lock);
    while (!other->job_running) pthread_cond_wait(&other->changed, &other->lock);
    pthread_mutex_unlock(&other->lock);
    char *report = NULL;
    other->busy_status = lsdb_info(other->ctx, export_file, &report);
    lsdb_string_free(report);
    lsdb_context_cancel(other->ctx);
    pthread_mutex_lock(&other->lock);
    other->done = 1;
    pthread_cond_broadcast(&other->changed);
    pthread_mutex_unlock(&other->lock);
    return NULL;
}

static int check_busy_and_cancel_from_another_thread(void) {
    struct other_thread other = {.ctx = lsdb_context_new(), .job_running = 0, .done = 0};
    CHECK(other.ctx != NULL, "lsdb_context_new");
    pthread_mutex_init(&other.lock, NULL);
    pthread_cond_init(&other.changed, NULL);
    lsdb_context_set_progress(other.ctx, block_until_other_thread_done, &other);
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, try_and_cancel, &other) == 0, "pthread_create");
    char target[4200];
    snprintf(target, sizeof target, "%s/cancelled.json", workdir);
    char *report = NULL;
    lsdb_status status = lsdb_generate(other.ctx, target, 2000, 1, NULL, NULL, &report);
    pthread_join(thread, NULL);
    char *message = last_error(other.ctx);
    lsdb_context_free(other.ctx);
    pthread_cond_destroy(&other.changed);
    pthread_mutex_destroy(&other.lock);
    int ok = other.busy_status == LSDB_STATUS_BUSY && status == LSDB_STATUS_CANCELLED && report == NULL &&
             contains(message, "cancelled");
    if (!ok) fprintf(stderr, "  busy %u, job %u %s\n", other.busy_status, status, message);
    free(message);
    CHECK(ok, "see above");
    return 1;
}

static int check_etcd_round_trip(void) {
    lsdb_context *ctx = lsdb_context_new();
    CHECK(ctx != NULL, "lsdb_context_new");
    char *report = NULL;
    lsdb_status import = lsdb_import(ctx, export_file, etcd_url, "{}", &report);
    int ok = import == LSDB_STATUS_OK && contains(report, "\"rows\":");
    if (!ok) {
        char *message = last_error(ctx);
        fprintf(stderr, "  import: %u %s\n", import, message);
        free(message);
    }
    lsdb_string_free(report);
    report = NULL;

    lsdb_status verify = lsdb_verify(ctx, etcd_url, export_file, "{\"max_differences\": 5}", &report);
    ok = ok && verify == LSDB_STATUS_OK && contains(report, "\"equal\":true");
    if (!ok) fprintf(stderr, "  verify: %u %s\n", verify, report);
    lsdb_string_free(report);
    report = NULL;

    char exported[4200];
    snprintf(exported, sizeof exported, "%s/from-etcd.json", workdir);
    lsdb_status export = lsdb_export(ctx, etcd_url, exported, NULL, &report);
    lsdb_string_free(report);
    report = NULL;
    lsdb_status again = lsdb_import(ctx, exported, etcd_url, "{}", &report);
    char *message = last_error(ctx);
    ok = ok && export == LSDB_STATUS_OK && again == LSDB_STATUS_TARGET_NOT_EMPTY && report == NULL &&
         contains(message, "already holds a LINSTOR database");
    if (!ok) fprintf(stderr, "  export %u, second import %u %s\n", export, again, message);
    free(message);
    lsdb_status replaced = lsdb_import(ctx, exported, etcd_url, "{\"replace\": true}", &report);
    lsdb_string_free(report);
    lsdb_context_free(ctx);
    CHECK(ok && replaced == LSDB_STATUS_OK, "replace: %u", replaced);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s WORKDIR [ETCD_URL]\n", argv[0]);
        return 2;
    }
    workdir = argv[1];
    etcd_url = argc > 2 ? argv[2] : NULL;
    snprintf(export_file, sizeof export_file, "%s/generated.json", workdir);

    run("version and status text", check_version_and_status_text);
    run("NULL arguments", check_null_arguments);
    run("invalid UTF-8, options and store", check_invalid_utf8_and_options);
    run("generate, info, verify on a file with progress", check_generate_info_verify_file);
    run("missing file", check_missing_file);
    run("unreachable etcd", check_unreachable_etcd);
    run("cancel before start, reset", check_cancel_before_start);
    run("busy, and cancel from another thread", check_busy_and_cancel_from_another_thread);
    if (etcd_url) {
        run("etcd import, verify, export, refuse, replace", check_etcd_round_trip);
    } else {
        printf("FAIL etcd round trip: no ETCD_URL given\n");
        failed++;
    }
#ifdef LSDB_DELIBERATE_LEAK
    /* Only in the build that checks the checker (scripts/test-bindings.sh): one report is never
     * freed, and valgrind must say so. */
    {
        lsdb_context *ctx = lsdb_context_new();
        char *report = NULL;
        lsdb_info(ctx, export_file, &report);
        lsdb_context_free(ctx);
        report = NULL;
    }
#endif
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
