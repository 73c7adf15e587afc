/* Checkpoints: bit-exact round trip, every kind of damage detected (with the file named), shape
 * checks, keep, fallback in tcd_ckpt_find, failed writes that change nothing, and a SIGKILL in the
 * middle of a write (TCDIST_FAULT=killwrite) that leaves the previous checkpoint current. */
#include "check.h"
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "train/adam.h"
#include "io/checkpoint.h"
#include "io/h5.h" /* this test damages files with HDF5 calls */
#include "io/corpus.h"
#include "io/corpus_write.h"
#include "io/h5util.h"
#include "models/model.h"
#include "io/model_file.h"
#include "base/util.h"

/* The checkpoint calls with the optimizer state taken from (or put into) a tcd_adam. */
static int ckpt_load(const char *path, tcd_model *m, tcd_adam *a, tcd_ckpt_state *st, char *err, size_t n) {
    tcd_ckpt_optim o = {.m = a->m, .v = a->v};
    int rc = tcd_ckpt_load(path, m, m->params, &o, st, err, n);
    if (rc == 0) a->t = o.t;
    return rc;
}
static int ckpt_write(const char *path, const tcd_model *m, const tcd_adam *a, const tcd_ckpt_state *st,
                      const tcd_corpus *c, const char *config, char *err, size_t n) {
    const tcd_ckpt_optim o = {.m = a->m, .v = a->v, .t = a->t};
    return tcd_ckpt_write(path, m, &o, st, c, config, err, n);
}
static int ckpt_save(const char *run, int64_t keep, const tcd_model *m, const tcd_adam *a, const tcd_ckpt_state *st,
                     const tcd_corpus *c, const char *config, char *err, size_t n) {
    const tcd_ckpt_optim o = {.m = a->m, .v = a->v, .t = a->t};
    return tcd_ckpt_save(run, keep, m, &o, st, c, config, err, n);
}

#define VOCAB 40
#define BUCKETS 7
#define N_CLASSES 3

int tcd_cmd_inspect(int argc, char **argv); /* cli/inspect.c (in the core library) */

static char tmpdir[256];

static char *tpath(const char *name) { return tcd_sprintf("%s/%s", tmpdir, name); }

/* A small training corpus: VOCAB words, 2-grams into BUCKETS buckets, 3 labels. */
static void make_corpus(const char *path) {
    tcd_tok_opts tok;
    tcd_tok_opts_default(&tok);
    tok.ngrams = 2;
    tok.buckets = BUCKETS;
    tcd_corpus_writer w;
    CHECK(tcd_cw_create(&w, path, 1) == 0);
    for (int d = 0; d < 30; d++) {
        int32_t ids[6];
        for (int i = 0; i < 6; i++) ids[i] = 2 + (d * 7 + i * 3) % (VOCAB - 2);
        CHECK(tcd_cw_add(&w, ids, 3 + d % 4, d % N_CLASSES) == 0);
    }
    char *words[VOCAB];
    int64_t counts[VOCAB];
    words[0] = tcd_strdup("<pad>");
    words[1] = tcd_strdup("<unk>");
    for (int i = 2; i < VOCAB; i++) words[i] = tcd_sprintf("wörd%d", i);
    for (int i = 0; i < VOCAB; i++) counts[i] = VOCAB - i;
    const char *labels[N_CLASSES] = {"neg", "neutral", "pos"};
    tcd_corpus_meta meta = {.tok = &tok, .words = (const char *const *)words, .counts = counts,
                            .vocab_size = VOCAB, .label_names = labels, .n_classes = N_CLASSES,
                            .min_count = 1, .max_vocab = 0, .n_skipped = 0, .input_format = "tsv",
                            .sources = "test"};
    char c_sha[65], v_sha[65];
    CHECK(tcd_cw_finish(&w, &meta, c_sha, v_sha) == 0);
    for (int i = 0; i < VOCAB; i++) free(words[i]);
}

static void make_model(tcd_model *m, int64_t hidden, uint64_t seed) {
    tcd_test_bow_cfg cfg = {.vocab = VOCAB + BUCKETS, .dim = 8, .hidden = hidden, .n_classes = N_CLASSES,
                            .seed = seed};
    CHECK(tcd_test_bow_init(m, &cfg) == 0);
}

static void make_adam(tcd_adam *a, const tcd_model *m, int64_t t, float salt) {
    tcd_adam_config c;
    tcd_adam_config_default(&c);
    tcd_adam_init(a, &c, m->n_params);
    for (int64_t i = 0; i < a->n; i++) {
        a->m[i] = sinf((float)i * 0.37f + salt) * 1e-3f;
        a->v[i] = (float)(i % 17) * 1e-7f + salt * 1e-9f;
    }
    a->t = t;
}

static tcd_ckpt_state make_state(int64_t step, const char *metrics) {
    tcd_ckpt_state st = {.step = step, .epoch = step / 10, .step_in_epoch = step % 10, .seed = 12345,
                         .epoch_loss = 0.1 * (double)step + 1.0 / 3.0, .epoch_docs = step * 16,
                         .tokens_total = step * 1000 + 7, .elapsed_s = 1.25 * (double)step + 1e-9,
                         .metrics = (char *)metrics};
    return st;
}

static void copy_file(const char *from, const char *to) {
    size_t n;
    char *d = tcd_read_file(from, &n);
    CHECK(d);
    FILE *f = fopen(to, "wb");
    CHECK(f && fwrite(d, 1, n, f) == n && fclose(f) == 0);
    free(d);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    CHECK(f);
    fputs(text, f);
    CHECK(fclose(f) == 0);
}

static void xor_byte(const char *path, long long off, unsigned char mask) {
    FILE *f = fopen(path, "r+b");
    CHECK(f && fseek(f, (long)off, SEEK_SET) == 0);
    int c = fgetc(f);
    CHECK(c != EOF);
    CHECK(fseek(f, (long)off, SEEK_SET) == 0);
    fputc(c ^ mask, f);
    CHECK(fclose(f) == 0);
}

static long long file_size(const char *path) {
    struct stat sb;
    CHECK(stat(path, &sb) == 0);
    return (long long)sb.st_size;
}

/* File offset and size in bytes of a dataset's first chunk (every dataset is chunked, with a
 * Fletcher32 checksum in the chunk's last 4 bytes). */
static void data_region(const char *path, const char *name, long long *off, long long *size) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    CHECK(ds >= 0);
    hid_t sp = H5Dget_space(ds);
    hsize_t coord[2];
    unsigned mask = 0;
    haddr_t a = HADDR_UNDEF;
    hsize_t sz = 0;
    CHECK(H5Dget_chunk_info(ds, sp, 0, coord, &mask, &a, &sz) >= 0);
    H5Sclose(sp);
    CHECK(a != HADDR_UNDEF);
    *off = (long long)a;
    *size = (long long)sz;
    CHECK(*size > 0);
    H5Dclose(ds);
    H5Fclose(f);
}

/* read_info (and load) of path must fail with a message that names it and contains `what`. */
static void expect_bad(const char *path, const char *what) {
    char err[2048] = "";
    tcd_ckpt_info info;
    int rc = tcd_ckpt_read_info(path, &info, err, sizeof err);
    if (rc == 0 || !strstr(err, path) || (what && !strstr(err, what))) {
        fprintf(stderr, "FAIL: %s: read_info rc=%d err='%s' (expected '%s')\n", path, rc, err, what ? what : "");
        exit(1);
    }
    tcd_model m;
    make_model(&m, 4, 99);
    tcd_adam a;
    make_adam(&a, &m, 0, 0);
    tcd_ckpt_state st;
    err[0] = 0;
    rc = ckpt_load(path, &m, &a, &st, err, sizeof err);
    if (rc == 0 || !strstr(err, path)) {
        fprintf(stderr, "FAIL: %s: load rc=%d err='%s'\n", path, rc, err);
        exit(1);
    }
    printf("  detected: %s\n", err);
    tcd_adam_free(&a);
    tcd_model_free(&m);
}

static int count_entries(const char *dir) {
    char *cmd = tcd_sprintf("ls -A '%s' | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    CHECK(p && fscanf(p, "%d", &n) == 1);
    pclose(p);
    free(cmd);
    return n;
}

static char *read_latest(const char *run_dir) {
    char *p = tcd_sprintf("%s/checkpoints/latest", run_dir);
    char *t = tcd_read_file(p, NULL);
    free(p);
    return t;
}

/* Runs fn with stderr sent to a file; returns what it printed. */
static char *capture_stderr(char *(*fn)(const char *, int *, char *, size_t), const char *run_dir, int *found_bad,
                            char *err, size_t errlen, char **result) {
    char *log = tpath("stderr.txt");
    fflush(stderr);
    int saved = dup(2);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    *result = fn(run_dir, found_bad, err, errlen);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char *text = tcd_read_file(log, NULL);
    free(log);
    CHECK(text);
    return text;
}

/* ---- killwrite: before any OpenMP region in this process (fork) ---- */
static void test_killwrite(const char *corpus_path) {
    for (int trial = 0; trial < 10; trial++) {
        char name[64];
        snprintf(name, sizeof name, "kill%d", trial);
        char *run = tpath(name);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            setenv("TCDIST_FAULT", "killwrite:0:2", 1);
            char err[1024];
            tcd_corpus c;
            if (tcd_corpus_open(&c, corpus_path, err, sizeof err) != 0) _exit(10);
            tcd_model m;
            make_model(&m, 4, 7);
            tcd_adam a;
            make_adam(&a, &m, 10, 0.5f);
            tcd_ckpt_state st = make_state(10, "{\"step\":10}\n");
            if (ckpt_save(run, 3, &m, &a, &st, &c, "{}", err, sizeof err) != 0) _exit(11);
            m.params[0] += 1.0f;
            a.t = 20;
            st = make_state(20, "{\"step\":10}\n{\"step\":20}\n");
            ckpt_save(run, 3, &m, &a, &st, &c, "{}", err, sizeof err);
            _exit(12); /* the second save must not return */
        }
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
            fprintf(stderr, "FAIL: killwrite trial %d: child status %d (exit %d)\n", trial, status,
                    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
            exit(1);
        }
        char *latest = read_latest(run);
        CHECK(latest && !strcmp(latest, "ckpt-00000010.h5\n"));
        free(latest);
        char *p20 = tcd_sprintf("%s/checkpoints/ckpt-00000020.h5", run);
        CHECK(!tcd_file_exists(p20));
        char *tmp20 = tcd_tmp_path_for(p20);
        /* tmp name has the child's pid */
        char *child_tmp = tcd_sprintf("%s/checkpoints/.ckpt-00000020.h5.tmp.%ld", run, (long)pid);
        CHECK(tcd_file_exists(child_tmp)); /* the write had started */
        char err[1024];
        tcd_ckpt_info info;
        CHECK(tcd_ckpt_read_info(child_tmp, &info, err, sizeof err) != 0); /* and is not a valid checkpoint */
        int found_bad = -1;
        char *found = tcd_ckpt_find(run, &found_bad, err, sizeof err);
        char *p10 = tcd_sprintf("%s/checkpoints/ckpt-00000010.h5", run);
        CHECK(found && !strcmp(found, p10) && found_bad == 0);
        CHECK(tcd_ckpt_read_info(found, &info, err, sizeof err) == 0);
        tcd_ckpt_info_free(&info);
        CHECK(tcd_ckpt_any(run));
        if (trial == 9) {
            /* remove_all also takes the leftover temporary file */
            CHECK(tcd_ckpt_remove_all(run) == 0);
            CHECK(!tcd_ckpt_any(run));
            CHECK(!tcd_file_exists(child_tmp) && !tcd_file_exists(p10));
            char *d = tcd_sprintf("%s/checkpoints", run);
            CHECK(count_entries(d) == 0);
            free(d);
        }
        free(found);
        free(p10);
        free(p20);
        free(tmp20);
        free(child_tmp);
        free(run);
    }
    printf("killwrite: 10 trials, the previous checkpoint stayed current\n");
}

int main(void) {
    tcd_h5_init();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tcd_ckpt_XXXXXX");
    CHECK(mkdtemp(tmpdir));
    char *corpus_path = tpath("train.h5");
    make_corpus(corpus_path);

    test_killwrite(corpus_path); /* forks: first, before any OpenMP region */

    char err[2048];
    tcd_corpus c;
    CHECK(tcd_corpus_open(&c, corpus_path, err, sizeof err) == 0);
    CHECK(c.n_embeddings == VOCAB + BUCKETS);

    /* ---- round trip ---- */
    tcd_model m;
    make_model(&m, 4, 7);
    tcd_adam a;
    make_adam(&a, &m, 123, 0.25f);
    const char *metrics = "{\"step\": 1, \"loss\": 0.5}\n{\"step\": 2, \"loss\": 0.25, \"note\": \"ü\"}\n";
    tcd_ckpt_state st = make_state(37, metrics);
    const char *config = "{\"dim\": 8, \"seed\": 12345}";
    char *good = tpath("good.h5");
    CHECK(ckpt_write(good, &m, &a, &st, &c, config, err, sizeof err) == 0);
    {
        char *tmp = tcd_tmp_path_for(good);
        CHECK(!tcd_file_exists(tmp));
        free(tmp);
    }
    tcd_model m2;
    make_model(&m2, 4, 8); /* other initial values */
    tcd_adam a2;
    make_adam(&a2, &m2, 0, 9.0f);
    CHECK(memcmp(m.params, m2.params, sizeof(float) * (size_t)m.n_params) != 0);
    tcd_ckpt_state st2;
    if (ckpt_load(good, &m2, &a2, &st2, err, sizeof err) != 0) {
        fprintf(stderr, "FAIL: load: %s\n", err);
        return 1;
    }
    size_t nb = sizeof(float) * (size_t)m.n_params;
    CHECK(!memcmp(m.params, m2.params, nb));
    CHECK(!memcmp(a.m, a2.m, nb));
    CHECK(!memcmp(a.v, a2.v, nb));
    CHECK(a2.t == 123);
    CHECK(st2.step == st.step && st2.epoch == st.epoch && st2.step_in_epoch == st.step_in_epoch);
    CHECK(st2.seed == st.seed && st2.epoch_docs == st.epoch_docs && st2.tokens_total == st.tokens_total);
    CHECK(st2.epoch_loss == st.epoch_loss && st2.elapsed_s == st.elapsed_s);
    CHECK(st2.metrics && !strcmp(st2.metrics, metrics));
    tcd_ckpt_state_free(&st2);
    CHECK(st2.metrics == NULL);

    tcd_ckpt_info info;
    CHECK(tcd_ckpt_read_info(good, &info, err, sizeof err) == 0);
    CHECK(strcmp(info.model_config, "{\"kind\": \"bow\", \"dim\": 8, \"hidden\": 4}") == 0 && info.n_classes == N_CLASSES &&
          info.n_embeddings == VOCAB + BUCKETS);
    CHECK(info.n_params == m.n_params);
    char psha[65];
    tcd_params_sha256(&m, psha);
    CHECK(!strcmp(info.params_sha256, psha));
    CHECK(!strcmp(info.data_sha256, c.content_sha256) && !strcmp(info.vocab_sha256, c.vocab_sha256));
    CHECK(strlen(info.state_sha256) == 64 && info.config_json && !strcmp(info.config_json, config));
    char state_sha[65];
    memcpy(state_sha, info.state_sha256, 65);
    tcd_ckpt_info_free(&info);
    /* the state hash follows m, v and t */
    a.t++;
    char *good2 = tpath("good2.h5");
    CHECK(ckpt_write(good2, &m, &a, &st, &c, config, err, sizeof err) == 0);
    CHECK(tcd_ckpt_read_info(good2, &info, err, sizeof err) == 0);
    CHECK(strcmp(info.state_sha256, state_sha) != 0 && !strcmp(info.params_sha256, psha));
    tcd_ckpt_info_free(&info);
    a.t--;
    printf("round trip: bit-exact\n");

    /* ---- inspect ---- */
    {
        char *out = tpath("inspect.json");
        fflush(stdout);
        int saved = dup(1);
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        close(fd);
        char *argv_ok[] = {"inspect", good, "--json", NULL};
        int rc_ok = tcd_cmd_inspect(3, argv_ok);
        fflush(stdout);
        dup2(saved, 1);
        close(saved);
        char *txt = tcd_read_file(out, NULL);
        printf("inspect: %s", txt);
        CHECK(rc_ok == 0);
        CHECK(strstr(txt, "\"step\":37") && strstr(txt, "\"epoch\":3") && strstr(txt, "\"adam_t\":123"));
        CHECK(strstr(txt, psha) && strstr(txt, state_sha) && strstr(txt, "\"checksum\":\"ok\""));
        CHECK(strstr(txt, "\"config\":{\"dim\": 8"));
        free(txt);
        free(out);
    }

    /* ---- damage ---- */
    static const char *const regions[] = {"params/embedding", "params/hidden.weight", "params/out.bias",
                                          "optimizer/m", "optimizer/v"};
    int n_flips = 0;
    for (size_t r = 0; r < sizeof regions / sizeof regions[0]; r++) {
        long long off, size;
        data_region(good, regions[r], &off, &size);
        long long pos[3] = {off, off + size / 2, off + size - 1};
        for (int i = 0; i < 3; i++) {
            char *bad = tpath("flip.h5");
            copy_file(good, bad);
            xor_byte(bad, pos[i], 0x01); /* one bit */
            expect_bad(bad, "checksum");
            free(bad);
            n_flips++;
        }
    }
    {
        /* a bit in the middle of the file, wherever that is: an error either way, never a crash */
        char *bad = tpath("mid.h5");
        long long size = file_size(good);
        for (int i = 1; i < 8; i++) {
            copy_file(good, bad);
            xor_byte(bad, size * i / 8, 0x10);
            char e2[1024];
            tcd_ckpt_info inf2;
            if (tcd_ckpt_read_info(bad, &inf2, e2, sizeof e2) == 0) tcd_ckpt_info_free(&inf2);
        }
        free(bad);
    }
    {
        char *bad = tpath("half.h5");
        copy_file(good, bad);
        CHECK(truncate(bad, (off_t)(file_size(good) / 2)) == 0);
        expect_bad(bad, NULL);
        CHECK(truncate(bad, 0) == 0);
        expect_bad(bad, "empty");
        write_text(bad, "this is not an HDF5 file\n");
        expect_bad(bad, "HDF5");
        free(bad);
        char *missing = tpath("missing.h5");
        expect_bad(missing, NULL);
        free(missing);
    }
    {
        char *model_path = tpath("model.h5");
        CHECK(tcd_model_save(model_path, &m, 0, &c, config, err, sizeof err) == 0);
        expect_bad(model_path, "tcdist-model");
        free(model_path);
    }
    {
        /* a missing dataset, a missing attribute, a changed attribute, a wrong version */
        char *bad = tpath("edit.h5");
        const char *what[] = {"optimizer/v", "metrics", "step", "epoch_loss", "version", "config"};
        for (int k = 0; k < 6; k++) {
            copy_file(good, bad);
            hid_t f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
            CHECK(f >= 0);
            if (k < 2)
                CHECK(H5Ldelete(f, what[k], H5P_DEFAULT) >= 0);
            else if (k == 2)
                CHECK(H5Adelete(f, "step") >= 0);
            else if (k == 3)
                CHECK(tcd_h5_attr_set_f64(f, "epoch_loss", 99.0) == 0);
            else if (k == 4)
                CHECK(tcd_h5_attr_set_i64(f, "version", TCD_CKPT_VERSION + 1) == 0); /* a newer one */
            else
                CHECK(tcd_h5_attr_set_str(f, "config", "{\"dim\": 9}") == 0);
            CHECK(H5Fclose(f) >= 0);
            expect_bad(bad, k == 3 || k == 5 ? "checksum" : what[k]);
        }
        free(bad);
    }
    {
        /* a model with more than 65536 parameters: m and v in one chunk each, data + Fletcher32 */
        tcd_model mb;
        make_model(&mb, 8000, 3);
        CHECK(mb.n_params > 65536);
        tcd_adam ab;
        make_adam(&ab, &mb, 5, 1.0f);
        char *big = tpath("big.h5");
        CHECK(ckpt_write(big, &mb, &ab, &st, &c, config, err, sizeof err) == 0);
        CHECK(tcd_ckpt_read_info(big, &info, err, sizeof err) == 0 && info.n_params == mb.n_params);
        tcd_ckpt_info_free(&info);
        long long off, size;
        data_region(big, "optimizer/v", &off, &size);
        CHECK(size == (long long)sizeof(float) * mb.n_params + 4);
        xor_byte(big, off + size / 2, 0x02);
        char e2[1024];
        CHECK(tcd_ckpt_read_info(big, &info, e2, sizeof e2) != 0 && strstr(e2, big) && strstr(e2, "checksum"));
        free(big);
        tcd_adam_free(&ab);
        tcd_model_free(&mb);
    }
    printf("damage: %d bit flips and 12 other kinds detected\n", n_flips);

    /* ---- shape mismatch ---- */
    {
        tcd_model m3;
        make_model(&m3, 5, 7);
        tcd_adam a3;
        make_adam(&a3, &m3, 0, 0);
        tcd_ckpt_state st3;
        CHECK(ckpt_load(good, &m3, &a3, &st3, err, sizeof err) != 0);
        printf("shape: %s\n", err);
        CHECK(strstr(err, good) && strstr(err, "hidden.weight") && strstr(err, "[4, 8]") && strstr(err, "[5, 8]"));
        tcd_adam_free(&a3);
        tcd_model_free(&m3);
        tcd_model m4;
        make_model(&m4, 0, 7);
        tcd_adam a4;
        make_adam(&a4, &m4, 0, 0);
        CHECK(ckpt_load(good, &m4, &a4, &st3, err, sizeof err) != 0);
        CHECK(strstr(err, good) && strstr(err, "out.weight"));
        tcd_adam_free(&a4);
        tcd_model_free(&m4);
    }

    /* ---- run dir: save with keep, find, fallback ---- */
    char *run = tpath("run");
    int found_bad = -1;
    CHECK(tcd_ckpt_find(run, &found_bad, err, sizeof err) == NULL && found_bad == 0); /* no run dir */
    CHECK(!tcd_ckpt_any(run));
    char *ckdir = tcd_sprintf("%s/checkpoints", run);
    CHECK(tcd_mkdir_p(ckdir) == 0);
    CHECK(tcd_ckpt_find(run, &found_bad, err, sizeof err) == NULL && found_bad == 0); /* empty */
    for (int64_t s = 1; s <= 4; s++) {
        st = make_state(s * 100, metrics);
        m.params[s] += 0.5f;
        CHECK(ckpt_save(run, 2, &m, &a, &st, &c, config, err, sizeof err) == 0);
    }
    char *p300 = tcd_sprintf("%s/ckpt-00000300.h5", ckdir), *p400 = tcd_sprintf("%s/ckpt-00000400.h5", ckdir);
    CHECK(count_entries(ckdir) == 3 && tcd_file_exists(p300) && tcd_file_exists(p400));
    char *latest = read_latest(run);
    CHECK(latest && !strcmp(latest, "ckpt-00000400.h5\n"));
    free(latest);
    char *found = tcd_ckpt_find(run, &found_bad, err, sizeof err);
    CHECK(found && !strcmp(found, p400) && found_bad == 0);
    free(found);
    /* keep=1 after a save with the same step replaces it and keeps only it */
    CHECK(ckpt_save(run, 1, &m, &a, &st, &c, config, err, sizeof err) == 0);
    CHECK(count_entries(ckdir) == 2 && tcd_file_exists(p400) && !tcd_file_exists(p300));
    st = make_state(300, metrics);
    CHECK(ckpt_save(run, 2, &m, &a, &st, &c, config, err, sizeof err) == 0); /* step 300 again */
    st = make_state(400, metrics);
    CHECK(ckpt_save(run, 2, &m, &a, &st, &c, config, err, sizeof err) == 0);
    CHECK(count_entries(ckdir) == 3);

    /* the latest is corrupted: fall back to 300, with a warning naming the bad file */
    {
        long long off, size;
        data_region(p400, "optimizer/v", &off, &size);
        xor_byte(p400, off + size / 3, 0x04);
        char *res;
        char *log = capture_stderr(tcd_ckpt_find, run, &found_bad, err, sizeof err, &res);
        printf("find warned: %s", log);
        CHECK(res && !strcmp(res, p300) && found_bad == 0);
        CHECK(strstr(log, p400) && strstr(log, "checksum"));
        free(res);
        free(log);
        /* a latest that names nothing sensible: the newest that verifies */
        char *lp = tcd_sprintf("%s/latest", ckdir);
        write_text(lp, "../../etc/passwd\n");
        log = capture_stderr(tcd_ckpt_find, run, &found_bad, err, sizeof err, &res);
        CHECK(res && !strcmp(res, p300) && strstr(log, lp));
        free(res);
        free(log);
        /* none verifies: NULL and found_bad */
        data_region(p300, "params/embedding", &off, &size);
        xor_byte(p300, off + 5, 0x80);
        log = capture_stderr(tcd_ckpt_find, run, &found_bad, err, sizeof err, &res);
        CHECK(res == NULL && found_bad == 1 && strstr(err, ckdir));
        printf("find with none valid: %s\n", err);
        free(log);
        free(lp);
    }

    /* ---- failed writes change nothing ---- */
    {
        char *run2 = tpath("run2");
        char *dir2 = tcd_sprintf("%s/checkpoints", run2);
        st = make_state(3, metrics);
        CHECK(ckpt_save(run2, 2, &m, &a, &st, &c, config, err, sizeof err) == 0);
        char *p3 = tcd_sprintf("%s/ckpt-00000003.h5", dir2), *p5 = tcd_sprintf("%s/ckpt-00000005.h5", dir2);
        size_t n3;
        char *bytes3 = tcd_read_file(p3, &n3);
        st = make_state(5, metrics);
        /* (1) the temporary file cannot be created (a folder has its name) */
        char *tmp5 = tcd_tmp_path_for(p5);
        CHECK(mkdir(tmp5, 0755) == 0);
        CHECK(ckpt_save(run2, 1, &m, &a, &st, &c, config, err, sizeof err) == -1);
        printf("failed write (1): %s\n", err);
        CHECK(strstr(err, p5));
        CHECK(rmdir(tmp5) == 0);
        /* (2) the rename fails (a non-empty folder at the final name) */
        CHECK(mkdir(p5, 0755) == 0);
        char *inner = tcd_sprintf("%s/x", p5);
        write_text(inner, "x");
        CHECK(ckpt_save(run2, 1, &m, &a, &st, &c, config, err, sizeof err) == -1);
        printf("failed write (2): %s\n", err);
        CHECK(strstr(err, p5) && !tcd_file_exists(tmp5));
        CHECK(unlink(inner) == 0 && rmdir(p5) == 0);
        free(inner);
        /* after both: the previous checkpoint and latest are as they were */
        char *l = read_latest(run2);
        CHECK(l && !strcmp(l, "ckpt-00000003.h5\n"));
        free(l);
        size_t n3b;
        char *bytes3b = tcd_read_file(p3, &n3b);
        CHECK(n3 == n3b && !memcmp(bytes3, bytes3b, n3));
        CHECK(count_entries(dir2) == 2);
        found = tcd_ckpt_find(run2, &found_bad, err, sizeof err);
        CHECK(found && !strcmp(found, p3));
        free(found);
        free(bytes3);
        free(bytes3b);
        free(tmp5);
        free(p3);
        free(p5);
        free(dir2);
        free(run2);
        /* (3) the checkpoints "folder" is a file */
        char *run3 = tpath("run3");
        CHECK(tcd_mkdir_p(run3) == 0);
        char *f3 = tcd_sprintf("%s/checkpoints", run3);
        write_text(f3, "not a folder");
        CHECK(ckpt_save(run3, 2, &m, &a, &st, &c, config, err, sizeof err) == -1 && strstr(err, f3));
        printf("failed write (3): %s\n", err);
        free(f3);
        free(run3);
        /* (4) tcd_ckpt_write into a missing folder */
        char *nowhere = tpath("no/such/dir/c.h5");
        CHECK(ckpt_write(nowhere, &m, &a, &st, &c, config, err, sizeof err) == -1 && strstr(err, nowhere));
        free(nowhere);
    }

    CHECK(tcd_ckpt_remove_all(run) == 0 && !tcd_ckpt_any(run) && count_entries(ckdir) == 0);

    free(p300);
    free(p400);
    free(ckdir);
    free(run);
    free(good);
    free(good2);
    tcd_adam_free(&a);
    tcd_adam_free(&a2);
    tcd_model_free(&m);
    tcd_model_free(&m2);
    tcd_corpus_close(&c);
    free(corpus_path);
    if (getenv("TCDIST_TEST_KEEP")) { /* for looking at the files by hand */
        printf("kept %s\n", tmpdir);
    } else {
        char *cmd = tcd_sprintf("rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
        free(cmd);
    }
    printf("test_checkpoint: ok\n");
    return 0;
}
