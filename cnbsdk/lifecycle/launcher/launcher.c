/*
 * The cnbsdk launcher: /cnb/lifecycle/launcher in every app image, with /cnb/process/<type>
 * links to it (platform.md §launcher, buildpack.md §Launch; digest §3.7, §3.9, §4.9).
 *
 * It reads <layers>/config/metadata.toml, picks the process by the name it was called as,
 * builds the launch environment from each buildpack's layers, runs exec.d programs, and then
 * replaces itself with the process (execve: same pid, signals reach the app).
 *
 * Written in C so that it runs on a run image with no language runtime; see docs/launcher.md.
 * Exit codes: 11 unsupported Platform API, 12 unsupported Buildpack API, 82 any other launch
 * failure (the lifecycle's code). Every error is one line on stderr starting "launcher: ".
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CNBSDK_LAUNCHER_VERSION
#define CNBSDK_LAUNCHER_VERSION "dev"
#endif
/* The Platform API assumed when CNB_PLATFORM_API is unset (cnbsdk.lifecycle.workspace). */
#ifndef DEFAULT_PLATFORM_API
#define DEFAULT_PLATFORM_API "0.13"
#endif

#define EXIT_PLATFORM_API 11
#define EXIT_BUILDPACK_API 12
#define EXIT_LAUNCH 82

const char launcher_ident[] = "cnbsdk-launcher " CNBSDK_LAUNCHER_VERSION;

/* ------------------------------------------------------------------ errors and memory */

static void fail_with(int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void fail_with(int code, const char *fmt, ...) {
    va_list ap;
    fputs("launcher: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(code);
}
#define fail(...) fail_with(EXIT_LAUNCH, __VA_ARGS__)

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) fail("out of memory");
    return q;
}
static char *xstrndup(const char *s, size_t n) {
    char *d = xrealloc(NULL, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}
static char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

/* A growable byte buffer, always NUL-terminated. */
typedef struct {
    char *data;
    size_t len, cap;
} Buf;

static void buf_put(Buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->data = xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}
static void buf_puts(Buf *b, const char *s) { buf_put(b, s, strlen(s)); }
static void buf_putc(Buf *b, char c) { buf_put(b, &c, 1); }
static char *buf_take(Buf *b) {
    if (!b->data) buf_put(b, "", 0);
    return b->data;
}

static char *join_path(const char *a, const char *b) {
    Buf out = {0};
    buf_puts(&out, a);
    if (out.len == 0 || out.data[out.len - 1] != '/') buf_putc(&out, '/');
    buf_puts(&out, b);
    return buf_take(&out);
}

/* Reads a whole file byte for byte; NULL with errno set when it cannot be read. */
static char *read_file(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    Buf out = {0};
    char chunk[8192];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int saved = errno;
            close(fd);
            free(out.data);
            errno = saved;
            return NULL;
        }
        if (n == 0) break;
        buf_put(&out, chunk, (size_t)n);
    }
    close(fd);
    *len = out.len;
    return buf_take(&out);
}

/* ------------------------------------------------------------------ a small TOML reader */
/*
 * Enough TOML for metadata.toml as tomli_w writes it and for exec.d output: comments, bare,
 * quoted and dotted keys, [table] and [[array.of.tables]] headers, basic and literal strings
 * (single and multi-line, every escape), booleans, arrays over several lines, inline tables.
 * Numbers and dates are kept as raw text (the launcher never needs them).
 */

typedef enum { V_STRING, V_BOOL, V_OTHER, V_ARRAY, V_TABLE } Kind;

typedef struct Value Value;
struct Value {
    Kind kind;
    char *str; /* V_STRING, V_OTHER */
    size_t len;
    int boolean;    /* V_BOOL */
    Value **items;  /* V_ARRAY items, V_TABLE values */
    char **keys;    /* V_TABLE keys */
    size_t count, cap;
    int is_table_array; /* V_ARRAY made by [[...]] headers */
    int closed;         /* V_TABLE given as an inline table: not extendable */
};

typedef struct {
    const char *src;
    size_t pos, len;
    int line;
    const char *name; /* for error messages */
} Parser;

static void parse_fail(Parser *p, const char *what) __attribute__((noreturn));
static void parse_fail(Parser *p, const char *what) {
    fail("%s: line %d: %s", p->name, p->line, what);
}

static Value *new_value(Kind kind) {
    Value *v = xrealloc(NULL, sizeof *v);
    memset(v, 0, sizeof *v);
    v->kind = kind;
    return v;
}

static void push_item(Value *container, char *key, Value *item) {
    if (container->count == container->cap) {
        container->cap = container->cap ? container->cap * 2 : 8;
        container->items = xrealloc(container->items, container->cap * sizeof(Value *));
        if (container->kind == V_TABLE)
            container->keys = xrealloc(container->keys, container->cap * sizeof(char *));
    }
    if (container->kind == V_TABLE) container->keys[container->count] = key;
    container->items[container->count++] = item;
}

static Value *table_get(const Value *table, const char *key) {
    if (!table || table->kind != V_TABLE) return NULL;
    for (size_t i = 0; i < table->count; i++)
        if (strcmp(table->keys[i], key) == 0) return table->items[i];
    return NULL;
}

static int peek(Parser *p) { return p->pos < p->len ? (unsigned char)p->src[p->pos] : -1; }
static int starts(Parser *p, const char *s) {
    size_t n = strlen(s);
    return p->len - p->pos >= n && memcmp(p->src + p->pos, s, n) == 0;
}
static void skip_blanks(Parser *p) {
    while (peek(p) == ' ' || peek(p) == '\t') p->pos++;
}
static void skip_comment(Parser *p) {
    if (peek(p) == '#')
        while (p->pos < p->len && p->src[p->pos] != '\n') p->pos++;
}
static int at_newline(Parser *p) { return peek(p) == '\n' || starts(p, "\r\n"); }
static void take_newline(Parser *p) {
    if (peek(p) == '\r') p->pos++;
    p->pos++;
    p->line++;
}
/* Blanks, comments and newlines, as allowed inside arrays. */
static void skip_space(Parser *p) {
    for (;;) {
        skip_blanks(p);
        skip_comment(p);
        if (!at_newline(p)) return;
        take_newline(p);
    }
}

static void put_utf8(Parser *p, Buf *out, uint32_t c) {
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) parse_fail(p, "invalid unicode escape");
    if (c < 0x80) {
        buf_putc(out, (char)c);
    } else if (c < 0x800) {
        buf_putc(out, (char)(0xC0 | (c >> 6)));
        buf_putc(out, (char)(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
        buf_putc(out, (char)(0xE0 | (c >> 12)));
        buf_putc(out, (char)(0x80 | ((c >> 6) & 0x3F)));
        buf_putc(out, (char)(0x80 | (c & 0x3F)));
    } else {
        buf_putc(out, (char)(0xF0 | (c >> 18)));
        buf_putc(out, (char)(0x80 | ((c >> 12) & 0x3F)));
        buf_putc(out, (char)(0x80 | ((c >> 6) & 0x3F)));
        buf_putc(out, (char)(0x80 | (c & 0x3F)));
    }
}

static void parse_escape(Parser *p, Buf *out) {
    int c = peek(p);
    p->pos++;
    int digits = 0;
    switch (c) {
    case 'b': buf_putc(out, '\b'); return;
    case 't': buf_putc(out, '\t'); return;
    case 'n': buf_putc(out, '\n'); return;
    case 'f': buf_putc(out, '\f'); return;
    case 'r': buf_putc(out, '\r'); return;
    case 'e': buf_putc(out, '\x1b'); return;
    case '"': buf_putc(out, '"'); return;
    case '\\': buf_putc(out, '\\'); return;
    case 'x': digits = 2; break;
    case 'u': digits = 4; break;
    case 'U': digits = 8; break;
    default: parse_fail(p, "unknown escape sequence in a string");
    }
    uint32_t code = 0;
    for (int i = 0; i < digits; i++) {
        int h = peek(p);
        p->pos++;
        if (h >= '0' && h <= '9') code = code * 16 + (uint32_t)(h - '0');
        else if (h >= 'a' && h <= 'f') code = code * 16 + (uint32_t)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F') code = code * 16 + (uint32_t)(h - 'A' + 10);
        else parse_fail(p, "bad hex digit in a unicode escape");
    }
    put_utf8(p, out, code);
}

/* A string starting at the current quote; sets *len (strings may hold NUL via \u0000). */
static char *parse_string(Parser *p, size_t *len) {
    int literal = peek(p) == '\'';
    const char *triple = literal ? "'''" : "\"\"\"";
    char quote = literal ? '\'' : '"';
    Buf out = {0};
    if (starts(p, triple)) {
        p->pos += 3;
        if (at_newline(p)) take_newline(p); /* a newline right after the opening is trimmed */
        for (;;) {
            if (p->pos >= p->len) parse_fail(p, "unterminated multi-line string");
            if (starts(p, triple)) {
                p->pos += 3;
                /* up to two quotes right before the closing delimiter belong to the string */
                for (int extra = 0; extra < 2 && peek(p) == quote; extra++) {
                    buf_putc(&out, quote);
                    p->pos++;
                }
                break;
            }
            int c = peek(p);
            if (c == '\n') {
                p->line++;
                buf_putc(&out, '\n');
                p->pos++;
            } else if (c == '\\' && !literal) {
                p->pos++;
                size_t save = p->pos;
                skip_blanks(p);
                if (at_newline(p)) { /* line-ending backslash: trim whitespace and newlines */
                    while (at_newline(p) || peek(p) == ' ' || peek(p) == '\t') {
                        if (at_newline(p)) take_newline(p);
                        else p->pos++;
                    }
                } else {
                    p->pos = save;
                    parse_escape(p, &out);
                }
            } else {
                buf_putc(&out, (char)c);
                p->pos++;
            }
        }
    } else {
        p->pos++;
        for (;;) {
            int c = peek(p);
            if (c < 0 || c == '\n') parse_fail(p, "unterminated string");
            p->pos++;
            if (c == quote) break;
            if (c == '\\' && !literal) parse_escape(p, &out);
            else buf_putc(&out, (char)c);
        }
    }
    *len = out.len;
    return buf_take(&out);
}

static int is_bare_key_char(int c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* A dotted key: fills parts (at most 16), returns how many. */
static size_t parse_key(Parser *p, char **parts) {
    size_t n = 0;
    for (;;) {
        skip_blanks(p);
        if (n == 16) parse_fail(p, "key has too many dotted parts");
        int c = peek(p);
        if (c == '"' || c == '\'') {
            size_t len;
            parts[n] = parse_string(p, &len);
            if (strlen(parts[n]) != len) parse_fail(p, "a key must not contain a NUL character");
        } else if (is_bare_key_char(c)) {
            size_t start = p->pos;
            while (is_bare_key_char(peek(p))) p->pos++;
            parts[n] = xstrndup(p->src + start, p->pos - start);
        } else {
            parse_fail(p, "expected a key");
        }
        n++;
        skip_blanks(p);
        if (peek(p) != '.') return n;
        p->pos++;
    }
}

static Value *parse_value(Parser *p);

/* Sets table[key] = value, refusing duplicates. */
static void table_set(Parser *p, Value *table, char *key, Value *value) {
    if (table_get(table, key)) parse_fail(p, "duplicate key");
    push_item(table, key, value);
}

/* Walks dotted key parts below table, creating tables; the last array-of-tables element is
   entered as TOML says. */
static Value *descend(Parser *p, Value *table, char **parts, size_t n) {
    for (size_t i = 0; i < n; i++) {
        Value *next = table_get(table, parts[i]);
        if (!next) {
            next = new_value(V_TABLE);
            push_item(table, parts[i], next);
        } else if (next->kind == V_ARRAY && next->is_table_array && next->count) {
            next = next->items[next->count - 1];
        } else if (next->kind != V_TABLE || next->closed) {
            parse_fail(p, "key is already defined as a value");
        }
        table = next;
    }
    return table;
}

static void parse_key_value(Parser *p, Value *table) {
    char *parts[16];
    size_t n = parse_key(p, parts);
    if (peek(p) != '=') parse_fail(p, "expected '=' after a key");
    p->pos++;
    skip_blanks(p);
    Value *value = parse_value(p);
    table_set(p, descend(p, table, parts, n - 1), parts[n - 1], value);
}

static Value *parse_value(Parser *p) {
    int c = peek(p);
    if (c == '"' || c == '\'') {
        Value *v = new_value(V_STRING);
        v->str = parse_string(p, &v->len);
        return v;
    }
    if (c == '[') {
        Value *v = new_value(V_ARRAY);
        p->pos++;
        for (;;) {
            skip_space(p);
            if (peek(p) == ']') break;
            push_item(v, NULL, parse_value(p));
            skip_space(p);
            if (peek(p) == ',') p->pos++;
            else if (peek(p) != ']') parse_fail(p, "expected ',' or ']' in an array");
        }
        p->pos++;
        return v;
    }
    if (c == '{') {
        Value *v = new_value(V_TABLE);
        p->pos++;
        for (;;) {
            skip_space(p);
            if (peek(p) == '}') break;
            parse_key_value(p, v);
            skip_space(p);
            if (peek(p) == ',') p->pos++;
            else if (peek(p) != '}') parse_fail(p, "expected ',' or '}' in an inline table");
        }
        p->pos++;
        v->closed = 1;
        return v;
    }
    size_t start = p->pos;
    while (p->pos < p->len && !strchr(" \t\r\n,]}#", p->src[p->pos])) p->pos++;
    if (p->pos == start) parse_fail(p, "expected a value");
    Value *v = new_value(V_OTHER);
    v->str = xstrndup(p->src + start, p->pos - start);
    v->len = p->pos - start;
    if (strcmp(v->str, "true") == 0 || strcmp(v->str, "false") == 0) {
        v->kind = V_BOOL;
        v->boolean = v->str[0] == 't';
    }
    return v;
}

static Value *parse_toml(const char *src, size_t len, const char *name) {
    Parser p = {src, 0, len, 1, name};
    Value *root = new_value(V_TABLE);
    Value *current = root;
    if (memchr(src, '\0', len)) parse_fail(&p, "file contains a NUL byte");
    for (;;) {
        skip_blanks(&p);
        skip_comment(&p);
        if (p.pos >= p.len) break;
        if (at_newline(&p)) {
            take_newline(&p);
            continue;
        }
        if (peek(&p) == '[') {
            int array = starts(&p, "[[");
            p.pos += array ? 2 : 1;
            char *parts[16];
            size_t n = parse_key(&p, parts);
            if (!starts(&p, array ? "]]" : "]")) parse_fail(&p, "unterminated table header");
            p.pos += array ? 2 : 1;
            Value *parent = descend(&p, root, parts, n - 1);
            Value *existing = table_get(parent, parts[n - 1]);
            if (array) {
                if (!existing) {
                    existing = new_value(V_ARRAY);
                    existing->is_table_array = 1;
                    push_item(parent, parts[n - 1], existing);
                } else if (existing->kind != V_ARRAY || !existing->is_table_array) {
                    parse_fail(&p, "key is already defined as a value");
                }
                current = new_value(V_TABLE);
                push_item(existing, NULL, current);
            } else {
                if (!existing) {
                    existing = new_value(V_TABLE);
                    push_item(parent, parts[n - 1], existing);
                } else if (existing->kind != V_TABLE || existing->closed) {
                    parse_fail(&p, "key is already defined as a value");
                }
                current = existing;
            }
        } else {
            parse_key_value(&p, current);
        }
        skip_blanks(&p);
        skip_comment(&p);
        if (p.pos < p.len && !at_newline(&p)) parse_fail(&p, "unexpected text after a value");
    }
    return root;
}

/* ------------------------------------------------------------------ metadata.toml */

typedef struct {
    char *id, *api;
    int api_minor; /* the launcher only knows 0.x */
} Buildpack;

typedef struct {
    char *type;
    char **command; /* NULL-terminated */
    size_t ncommand;
    char **args;
    size_t nargs;
    int direct;
    char *buildpack_id;
    char *working_dir;
    char **exec_env;
    size_t nexec_env;
} Process;

typedef struct {
    Buildpack *buildpacks;
    size_t nbuildpacks;
    Process *processes;
    size_t nprocesses;
} Metadata;

static const char *metadata_path;

static void field_fail(const char *field, size_t index, const char *sub, const char *what)
    __attribute__((noreturn));
static void field_fail(const char *field, size_t index, const char *sub, const char *what) {
    fail("%s: %s[%zu].%s: %s", metadata_path, field, index, sub, what);
}

static char *plain_string(const Value *v, const char *field, size_t index, const char *sub) {
    if (!v || v->kind != V_STRING) field_fail(field, index, sub, "must be a string");
    if (strlen(v->str) != v->len) field_fail(field, index, sub, "must not contain a NUL character");
    return v->str;
}

static char **string_list(const Value *v, size_t *n, const char *field, size_t index, const char *sub) {
    char **list = xrealloc(NULL, ((v ? v->count : 0) + 1) * sizeof(char *));
    *n = 0;
    if (v && v->kind != V_ARRAY) field_fail(field, index, sub, "must be an array of strings");
    for (size_t i = 0; v && i < v->count; i++) list[(*n)++] = plain_string(v->items[i], field, index, sub);
    list[*n] = NULL;
    return list;
}

/* "0.<minor>" -> minor; -1 for anything the launcher does not know. */
static int api_minor(const char *api) {
    if (strncmp(api, "0.", 2) != 0 || !api[2]) return -1;
    int minor = 0;
    for (const char *c = api + 2; *c; c++) {
        if (*c < '0' || *c > '9' || minor > 1000) return -1;
        minor = minor * 10 + (*c - '0');
    }
    return minor;
}

static Metadata read_metadata(const char *layers_dir) {
    static char path_storage[4096];
    snprintf(path_storage, sizeof path_storage, "%s/config/metadata.toml", layers_dir);
    metadata_path = path_storage;
    size_t len;
    char *text = read_file(metadata_path, &len);
    if (!text) fail("cannot read %s: %s", metadata_path, strerror(errno));
    Value *root = parse_toml(text, len, metadata_path);
    Metadata md = {0};

    Value *bps = table_get(root, "buildpacks");
    if (bps && bps->kind != V_ARRAY) fail("%s: buildpacks: must be an array of tables", metadata_path);
    md.buildpacks = xrealloc(NULL, (bps ? bps->count : 0) * sizeof(Buildpack));
    for (size_t i = 0; bps && i < bps->count; i++) {
        Value *t = bps->items[i];
        if (t->kind != V_TABLE) fail("%s: buildpacks[%zu]: must be a table", metadata_path, i);
        Buildpack *bp = &md.buildpacks[md.nbuildpacks++];
        bp->id = plain_string(table_get(t, "id"), "buildpacks", i, "id");
        bp->api = plain_string(table_get(t, "api"), "buildpacks", i, "api");
        bp->api_minor = api_minor(bp->api);
        /* Buildpack API 0.2 up to the newest this launcher implements (0.12). */
        if (bp->api_minor < 2 || bp->api_minor > 12)
            fail_with(EXIT_BUILDPACK_API,
                      "%s: buildpacks[%zu].api: buildpack %s uses Buildpack API %s, which this "
                      "launcher does not support (0.2 to 0.12)",
                      metadata_path, i, bp->id, bp->api);
    }

    Value *procs = table_get(root, "processes");
    if (procs && procs->kind != V_ARRAY) fail("%s: processes: must be an array of tables", metadata_path);
    md.processes = xrealloc(NULL, (procs ? procs->count : 0) * sizeof(Process));
    for (size_t i = 0; procs && i < procs->count; i++) {
        Value *t = procs->items[i];
        if (t->kind != V_TABLE) fail("%s: processes[%zu]: must be a table", metadata_path, i);
        Process *pr = &md.processes[md.nprocesses++];
        memset(pr, 0, sizeof *pr);
        pr->type = plain_string(table_get(t, "type"), "processes", i, "type");
        Value *command = table_get(t, "command");
        if (command && command->kind == V_STRING) { /* Platform < 0.10 wrote a single string */
            pr->command = xrealloc(NULL, 2 * sizeof(char *));
            pr->command[0] = plain_string(command, "processes", i, "command");
            pr->command[1] = NULL;
            pr->ncommand = 1;
        } else {
            pr->command = string_list(command, &pr->ncommand, "processes", i, "command");
        }
        if (pr->ncommand == 0) field_fail("processes", i, "command", "must not be empty");
        pr->args = string_list(table_get(t, "args"), &pr->nargs, "processes", i, "args");
        Value *direct = table_get(t, "direct");
        if (direct && direct->kind != V_BOOL) field_fail("processes", i, "direct", "must be true or false");
        pr->direct = direct && direct->boolean;
        Value *bp_id = table_get(t, "buildpack-id");
        pr->buildpack_id = bp_id ? plain_string(bp_id, "processes", i, "buildpack-id") : NULL;
        Value *wd = table_get(t, "working-dir");
        pr->working_dir = wd ? plain_string(wd, "processes", i, "working-dir") : NULL;
        pr->exec_env = string_list(table_get(t, "exec-env"), &pr->nexec_env, "processes", i, "exec-env");
    }
    return md;
}

/* ------------------------------------------------------------------ the environment */

typedef struct {
    char **names, **values;
    size_t count, cap;
} Env;

static Env env;

static const char *env_get(const char *name) {
    for (size_t i = 0; i < env.count; i++)
        if (strcmp(env.names[i], name) == 0) return env.values[i];
    return NULL;
}

static void env_set(const char *name, char *value) {
    for (size_t i = 0; i < env.count; i++)
        if (strcmp(env.names[i], name) == 0) {
            env.values[i] = value;
            return;
        }
    if (env.count == env.cap) {
        env.cap = env.cap ? env.cap * 2 : 64;
        env.names = xrealloc(env.names, env.cap * sizeof(char *));
        env.values = xrealloc(env.values, env.cap * sizeof(char *));
    }
    env.names[env.count] = xstrdup(name);
    env.values[env.count++] = value;
}

static char **env_list(void) {
    char **list = xrealloc(NULL, (env.count + 1) * sizeof(char *));
    for (size_t i = 0; i < env.count; i++) {
        Buf entry = {0};
        buf_puts(&entry, env.names[i]);
        buf_putc(&entry, '=');
        buf_puts(&entry, env.values[i]);
        list[i] = buf_take(&entry);
    }
    list[env.count] = NULL;
    return list;
}

static char *concat3(const char *a, const char *b, const char *c) {
    Buf out = {0};
    buf_puts(&out, a);
    buf_puts(&out, b);
    buf_puts(&out, c);
    return buf_take(&out);
}

/* value + delim + existing, without a dangling delimiter when nothing exists yet. */
static void env_prepend(const char *name, const char *value, const char *delim) {
    const char *old = env_get(name);
    env_set(name, old && *old ? concat3(value, delim, old) : xstrdup(value));
}
static void env_append(const char *name, const char *value, const char *delim) {
    const char *old = env_get(name);
    env_set(name, old && *old ? concat3(old, delim, value) : xstrdup(value));
}

/* platform.md §launcher: the container env minus these, and PATH without the launcher dirs. */
static void env_from_container(char **environ_) {
    static const char *excluded[] = {"CNB_LAYERS_DIR", "CNB_APP_DIR", "CNB_PROCESS_TYPE", "CNB_PLATFORM_API",
                                     "CNB_DEPRECATION_MODE", NULL};
    for (char **e = environ_; *e; e++) {
        char *eq = strchr(*e, '=');
        if (!eq) continue;
        char *name = xstrndup(*e, (size_t)(eq - *e));
        int skip = 0;
        for (const char **x = excluded; *x; x++) skip |= strcmp(name, *x) == 0;
        if (!skip) env_set(name, xstrdup(eq + 1));
        free(name);
    }
    const char *path = env_get("PATH");
    if (!path) return;
    Buf kept = {0};
    const char *part = path;
    int first = 1;
    for (;;) {
        const char *end = strchr(part, ':');
        size_t n = end ? (size_t)(end - part) : strlen(part);
        int strip = (n == 12 && strncmp(part, "/cnb/process", n) == 0) ||
                    (n == 14 && strncmp(part, "/cnb/lifecycle", n) == 0);
        if (!strip) {
            if (!first) buf_putc(&kept, ':');
            buf_put(&kept, part, n);
            first = 0;
        }
        if (!end) break;
        part = end + 1;
    }
    env_set("PATH", buf_take(&kept));
}

/* ------------------------------------------------------------------ walking layers */

static int by_name(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Entries of dir in byte order of their names, "." and ".." left out; *n = 0 when missing. */
static struct dirent **list_dir(const char *dir, int *n) {
    struct dirent **entries = NULL;
    *n = scandir(dir, &entries, NULL, by_name);
    if (*n < 0) {
        if (errno != ENOENT && errno != ENOTDIR) fail("cannot list %s: %s", dir, strerror(errno));
        *n = 0;
        return NULL;
    }
    int kept = 0;
    for (int i = 0; i < *n; i++)
        if (strcmp(entries[i]->d_name, ".") != 0 && strcmp(entries[i]->d_name, "..") != 0)
            entries[kept++] = entries[i];
    *n = kept;
    return entries;
}

/* A directory itself, not a link to one (the lifecycle's DirEntry.IsDir). */
static int is_real_dir(const char *dir, const struct dirent *e) {
    if (e->d_type != DT_UNKNOWN) return e->d_type == DT_DIR;
    struct stat st;
    char *path = join_path(dir, e->d_name);
    int r = lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
    free(path);
    return r;
}

/* Anything but a directory or a link to one. */
static int is_file_like(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The launch layers of one buildpack dir, in name order (*.ignore layers are never exported). */
static char **layer_dirs(const char *bp_dir) {
    int n;
    struct dirent **entries = list_dir(bp_dir, &n);
    char **dirs = xrealloc(NULL, ((size_t)n + 1) * sizeof(char *));
    size_t kept = 0;
    for (int i = 0; i < n; i++) {
        if (is_real_dir(bp_dir, entries[i]) && !ends_with(entries[i]->d_name, ".ignore"))
            dirs[kept++] = join_path(bp_dir, entries[i]->d_name);
        free(entries[i]);
    }
    free(entries);
    dirs[kept] = NULL;
    return dirs;
}

/* Files (not directories) of dir in name order, as full paths. */
static char **files_in(const char *dir) {
    int n;
    struct dirent **entries = list_dir(dir, &n);
    char **files = xrealloc(NULL, ((size_t)n + 1) * sizeof(char *));
    size_t kept = 0;
    for (int i = 0; i < n; i++) {
        char *path = join_path(dir, entries[i]->d_name);
        if (is_file_like(path)) files[kept++] = path;
        else free(path);
        free(entries[i]);
    }
    free(entries);
    files[kept] = NULL;
    return files;
}

static char *escape_id(const char *id) {
    char *out = xstrdup(id);
    for (char *c = out; *c; c++)
        if (*c == '/') *c = '_';
    return out;
}

/* <layer>/bin -> PATH and <layer>/lib -> LD_LIBRARY_PATH, prepended with ':'. */
static void apply_root_dirs(const char *layer) {
    static const char *roots[][2] = {{"bin", "PATH"}, {"lib", "LD_LIBRARY_PATH"}};
    for (size_t i = 0; i < 2; i++) {
        char *dir = join_path(layer, roots[i][0]);
        struct stat st;
        if (stat(dir, &st) == 0) env_prepend(roots[i][1], dir, ":");
        free(dir);
    }
}

/* buildpack.md §Environment Variable Modification Rules, as the lifecycle applies them. */
static void apply_env_dir(const char *dir) {
    char **files = files_in(dir);
    for (char **f = files; *f; f++) {
        const char *base = strrchr(*f, '/') + 1;
        const char *dot = strchr(base, '.');
        size_t name_len = dot ? (size_t)(dot - base) : strlen(base);
        const char *action = dot ? dot + 1 : "override"; /* no suffix = override (API >= 0.5) */
        if (name_len == 0 || memchr(base, '=', name_len)) continue;
        if (strcmp(action, "override") && strcmp(action, "default") && strcmp(action, "prepend") &&
            strcmp(action, "append"))
            continue; /* .delim and unknown suffixes are not modifications */
        char *name = xstrndup(base, name_len);
        size_t len;
        char *value = read_file(*f, &len);
        if (!value) fail("cannot read %s: %s", *f, strerror(errno));
        if (strlen(value) != len) fail("%s: an environment value cannot contain a NUL byte", *f);
        if (strcmp(action, "override") == 0) {
            env_set(name, value);
        } else if (strcmp(action, "default") == 0) {
            const char *old = env_get(name);
            if (!old || !*old) env_set(name, value);
        } else {
            char *delim_file = concat3(dir, "/", name);
            char *delim_path = concat3(delim_file, ".delim", "");
            size_t dlen = 0;
            char *delim = read_file(delim_path, &dlen); /* no .delim: plain concatenation */
            if (!delim) {
                if (errno != ENOENT) fail("cannot read %s: %s", delim_path, strerror(errno));
                delim = xstrdup("");
            }
            if (strlen(delim) != dlen) fail("%s: a delimiter cannot contain a NUL byte", delim_path);
            if (strcmp(action, "prepend") == 0) env_prepend(name, value, delim);
            else env_append(name, value, delim);
        }
        free(name);
    }
}

/* ------------------------------------------------------------------ exec.d */

/* Runs one exec.d program in the current env (cwd is the app dir) and applies the TOML it
   writes to fd 3: every top-level key overrides that variable (buildpack.md §Exec.d). */
static void run_exec_d(const char *program) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) fail("exec.d %s: cannot create a pipe: %s", program, strerror(errno));
    char **envp = env_list();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) fail("exec.d %s: cannot fork: %s", program, strerror(errno));
    if (pid == 0) {
        if (fds[1] == 3) fcntl(3, F_SETFD, 0);
        else if (dup2(fds[1], 3) < 0) _exit(127);
        char *argv[] = {(char *)program, NULL};
        execve(program, argv, envp);
        dprintf(2, "launcher: exec.d %s: cannot run it: %s\n", program, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    Buf out = {0};
    char chunk[8192];
    for (;;) {
        ssize_t n = read(fds[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        buf_put(&out, chunk, (size_t)n);
    }
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) fail("exec.d %s: cannot wait for it: %s", program, strerror(errno));
    if (WIFSIGNALED(status)) fail("exec.d %s was killed by signal %d", program, WTERMSIG(status));
    if (WEXITSTATUS(status) != 0) fail("exec.d %s failed with exit code %d", program, WEXITSTATUS(status));
    char *name = concat3("output of exec.d ", program, "");
    Value *vars = parse_toml(buf_take(&out), out.len, name);
    for (size_t i = 0; i < vars->count; i++) {
        Value *v = vars->items[i];
        if (v->kind != V_STRING)
            fail("exec.d %s: %s: must be a string (write NAME = \"value\" lines to fd 3)", program,
                 vars->keys[i]);
        if (strlen(v->str) != v->len || !*vars->keys[i] || strchr(vars->keys[i], '='))
            fail("exec.d %s: %s: not a valid environment variable", program, vars->keys[i]);
        env_set(vars->keys[i], v->str);
    }
}

/* ------------------------------------------------------------------ launching */

static int platform_minor; /* CNB_PLATFORM_API 0.<minor> */

static const Buildpack *buildpack_of(const Metadata *md, const Process *pr) {
    for (size_t i = 0; pr->buildpack_id && i < md->nbuildpacks; i++)
        if (strcmp(md->buildpacks[i].id, pr->buildpack_id) == 0) return &md->buildpacks[i];
    return NULL;
}

/* Platform >= 0.15: only processes for this execution environment can be chosen. */
static int eligible(const Process *pr) {
    if (platform_minor < 15 || pr->nexec_env == 0) return 1;
    const char *exec_env = getenv("CNB_EXEC_ENV");
    if (!exec_env || !*exec_env) exec_env = "production";
    for (size_t i = 0; i < pr->nexec_env; i++)
        if (strcmp(pr->exec_env[i], "*") == 0 || strcmp(pr->exec_env[i], exec_env) == 0) return 1;
    return 0;
}

static char *absolute(const char *path) {
    if (path[0] == '/') return xstrdup(path);
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) fail("cannot read the current directory: %s", strerror(errno));
    return join_path(cwd, path);
}

/* command[0] found through the launch env's PATH, as execvp would, but reporting clearly. */
static char *find_program(const char *name) {
    if (strchr(name, '/')) return xstrdup(name);
    const char *path = env_get("PATH");
    if (!path) path = "/usr/local/bin:/bin:/usr/bin";
    const char *part = path;
    for (;;) {
        const char *end = strchr(part, ':');
        size_t n = end ? (size_t)(end - part) : strlen(part);
        char *dir = n ? xstrndup(part, n) : xstrdup(".");
        char *candidate = join_path(dir, name);
        free(dir);
        struct stat st;
        if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && access(candidate, X_OK) == 0) return candidate;
        free(candidate);
        if (!end) break;
        part = end + 1;
    }
    fail("%s: command not found in PATH=%s", name, path);
}

/* Appends s to out as one single-quoted shell word. */
static void shell_quote(Buf *out, const char *s) {
    buf_putc(out, '\'');
    for (; *s; s++) {
        if (*s == '\'') buf_puts(out, "'\\''");
        else buf_putc(out, *s);
    }
    buf_putc(out, '\'');
}

int main(int argc, char **argv) {
    extern char **environ;
    const char *layers_env = getenv("CNB_LAYERS_DIR");
    const char *app_env = getenv("CNB_APP_DIR");
    const char *platform_api = getenv("CNB_PLATFORM_API");
    char *layers_dir = absolute(layers_env && *layers_env ? layers_env : "/layers");
    char *app_dir = absolute(app_env && *app_env ? app_env : "/workspace");
    if (!platform_api || !*platform_api) platform_api = DEFAULT_PLATFORM_API;
    platform_minor = api_minor(platform_api);
    /* Platform API 0.7 up to 0.15: everything below 0.10 appends user args (digest §4.9). */
    if (platform_minor < 7 || platform_minor > 15)
        fail_with(EXIT_PLATFORM_API, "CNB_PLATFORM_API=%s is not supported by this launcher (0.7 to 0.15)",
                  platform_api);

    Metadata md = read_metadata(layers_dir);

    const char *process_type_env = getenv("CNB_PROCESS_TYPE");
    if (process_type_env && *process_type_env)
        fprintf(stderr,
                "launcher: warning: CNB_PROCESS_TYPE=%s is ignored; run /cnb/process/%s to start that "
                "process\n",
                process_type_env, process_type_env);

    /* The process is chosen by the name the launcher was called as: /cnb/process/<type>. */
    const char *self = argv[0] ? argv[0] : "launcher";
    const char *slash = strrchr(self, '/');
    char *called_as = xstrdup(slash ? slash + 1 : self);
    if (ends_with(called_as, ".exe")) called_as[strlen(called_as) - 4] = '\0';
    const Process *chosen = NULL;
    for (size_t i = 0; i < md.nprocesses && !chosen; i++)
        if (strcmp(md.processes[i].type, called_as) == 0 && eligible(&md.processes[i])) chosen = &md.processes[i];
    if (!chosen && strcmp(called_as, "launcher") != 0) {
        Buf known = {0};
        for (size_t i = 0; i < md.nprocesses; i++) {
            if (!eligible(&md.processes[i])) continue;
            if (known.len) buf_puts(&known, ", ");
            buf_puts(&known, md.processes[i].type);
        }
        fail("no process type \"%s\" in %s (processes: %s)", called_as, metadata_path,
             known.len ? known.data : "none");
    }

    /* What to run: the command words, then the arguments. */
    char **user = argv + 1;
    size_t nuser = argc > 1 ? (size_t)argc - 1 : 0;
    char **words = xrealloc(NULL, (nuser + 64) * sizeof(char *));
    size_t nwords = 0;
    int direct;
    const char *process_type = "";
    const Buildpack *owner = NULL;
    const char *working_dir = app_dir;
    if (chosen) {
        process_type = chosen->type;
        owner = buildpack_of(&md, chosen);
        direct = chosen->direct;
        if (chosen->working_dir && *chosen->working_dir) working_dir = chosen->working_dir;
        size_t total = chosen->ncommand + chosen->nargs + nuser + 1;
        words = xrealloc(words, total * sizeof(char *));
        for (size_t i = 0; i < chosen->ncommand; i++) words[nwords++] = chosen->command[i];
        /* Platform >= 0.10 with a multi-word command or Buildpack API >= 0.9: user args
           replace `args`; otherwise they are appended to them. */
        int replace = 0;
        if (platform_minor >= 10 && nuser > 0) {
            if (chosen->ncommand > 1) {
                replace = 1;
            } else {
                if (!owner)
                    fail("%s: process \"%s\" names buildpack \"%s\", which is not in [[buildpacks]]", metadata_path,
                         chosen->type, chosen->buildpack_id ? chosen->buildpack_id : "");
                replace = owner->api_minor >= 9;
            }
        }
        if (!replace)
            for (size_t i = 0; i < chosen->nargs; i++) words[nwords++] = chosen->args[i];
        for (size_t i = 0; i < nuser; i++) words[nwords++] = user[i];
    } else {
        if (nuser == 0) fail("no process type matches \"%s\": give a command, launcher [--] CMD [ARGS...]", called_as);
        direct = strcmp(user[0], "--") == 0;
        if (direct && nuser == 1) fail("a command is required after --");
        for (size_t i = direct ? 1 : 0; i < nuser; i++) words[nwords++] = user[i];
    }
    words[nwords] = NULL;

    /* The lifecycle works from the app dir: exec.d programs run there. */
    if (chdir(app_dir) != 0) fail("cannot change to the app directory %s: %s", app_dir, strerror(errno));

    /* The launch env: per buildpack, the layers' root dirs, then their env files. */
    env_from_container(environ);
    char ***layers = xrealloc(NULL, (md.nbuildpacks + 1) * sizeof(char **));
    for (size_t b = 0; b < md.nbuildpacks; b++) {
        char *bp_dir = join_path(layers_dir, escape_id(md.buildpacks[b].id));
        layers[b] = layer_dirs(bp_dir);
        for (char **l = layers[b]; *l; l++) apply_root_dirs(*l);
        for (char **l = layers[b]; *l; l++) {
            char *dir = join_path(*l, "env");
            apply_env_dir(dir);
            dir = join_path(*l, "env.launch");
            apply_env_dir(dir);
            if (*process_type) apply_env_dir(join_path(dir, process_type));
        }
    }
    for (size_t b = 0; b < md.nbuildpacks; b++)
        for (char **l = layers[b]; *l; l++) {
            char *dir = join_path(*l, "exec.d");
            for (char **f = files_in(dir); *f; f++) run_exec_d(*f);
            if (*process_type)
                for (char **f = files_in(join_path(dir, process_type)); *f; f++) run_exec_d(*f);
        }

    if (chdir(working_dir) != 0) fail("cannot change to the working directory %s: %s", working_dir, strerror(errno));

    if (direct) {
        char *program = find_program(words[0]);
        char **envp = env_list();
        execve(program, words, envp);
        fail("cannot run %s: %s", program, strerror(errno));
    }

    /* Through bash: source profile.d scripts and <app>/.profile, then run the command as a
       script (no args) or as words each evaluated by the shell (the lifecycle's rules). */
    Buf script = {0};
    for (size_t b = 0; b < md.nbuildpacks; b++)
        for (char **l = layers[b]; *l; l++) {
            char *dir = join_path(*l, "profile.d");
            char **lists[2] = {files_in(dir), *process_type ? files_in(join_path(dir, process_type)) : NULL};
            for (int k = 0; k < 2; k++)
                for (char **f = lists[k]; f && *f; f++) {
                    buf_puts(&script, "source ");
                    shell_quote(&script, *f);
                    buf_putc(&script, '\n');
                }
        }
    char *profile = join_path(app_dir, ".profile");
    if (is_file_like(profile)) {
        buf_puts(&script, "source ");
        shell_quote(&script, profile);
        buf_putc(&script, '\n');
    }
    int as_script = nwords == 1 || (owner && owner->api_minor < 4);
    if (as_script) {
        buf_puts(&script, "exec bash -c \"$@\"");
    } else {
        buf_puts(&script, "exec bash -c '\"$(eval echo \\\"$0\\\")\"");
        for (size_t i = 1; i < nwords; i++) {
            char token[64];
            snprintf(token, sizeof token, " \"$(eval echo \\\"${%zu}\\\")\"", i);
            buf_puts(&script, token);
        }
        buf_puts(&script, "' \"${@:1}\"");
    }
    char **bash_argv = xrealloc(NULL, (nwords + 5) * sizeof(char *));
    size_t n = 0;
    bash_argv[n++] = "bash";
    bash_argv[n++] = "-c";
    bash_argv[n++] = buf_take(&script);
    bash_argv[n++] = (char *)self;
    for (size_t i = 0; i < nwords; i++) bash_argv[n++] = words[i];
    bash_argv[n] = NULL;
    execve("/bin/bash", bash_argv, env_list());
    fail("cannot run /bin/bash: %s", strerror(errno));
}
