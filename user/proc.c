// SPDX-License-Identifier: Apache-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "naming.h"
#include "proc.h"
#include "proc_internal.h"
#include "strutil.h"

#define PROC_ENVIRON_MAX	65536
#define PROC_CMDLINE_MAX	4096
#define PROC_LINK_MAX		4096
#define PROC_REFILLS		8

struct proc_entry {
	struct proc_info info;
	uint64_t used;		/* LRU stamp, 0: free */
	uint8_t refills;	/* read in mid-exec: read again on use */
};

static struct proc_entry proc_cache[PROC_CACHE_MAX];
static uint64_t proc_clock;

static const char *const proc_secret_words[] = {
	"password", "passwd", "secret", "token",
	"apikey", "api-key", "api_key", "credential",
};

static bool proc_has_word(const char *s, size_t len, const char *word)
{
	size_t wlen = strlen(word);

	for (size_t i = 0; i + wlen <= len; i++)
		if (strncasecmp(s + i, word, wlen) == 0)
			return true;
	return false;
}

static bool proc_is_secret_name(const char *s, size_t len)
{
	for (size_t i = 0; i < sizeof(proc_secret_words) / sizeof(proc_secret_words[0]); i++)
		if (proc_has_word(s, len, proc_secret_words[i]))
			return true;
	return false;
}

struct proc_out {
	char *dst;
	size_t size;
	size_t len;
};

static void proc_out_put(struct proc_out *o, const char *s, size_t n)
{
	size_t room = o->size - 1 - o->len;

	if (n > room)
		n = room;
	memcpy(o->dst + o->len, s, n);
	o->len += n;
	o->dst[o->len] = '\0';
}

static bool proc_url_end(char c)
{
	return c == ' ' || c == '\t' || c == '"' || c == '\'' || c == '\\' || c == '\r' ||
	       c == '\n' || c == '#' || c == '<' || c == '>' || c == '`';
}

static bool proc_prefix_ci(const char *s, size_t len, const char *word)
{
	size_t n = strlen(word);

	return len >= n && strncasecmp(s, word, n) == 0;
}

/* Copy one argument, hiding what URLs and headers written into it carry:
 * userinfo ("://user:pw@"), every query value ("?k=v&k2=v2") and the value of
 * Authorization, Proxy-Authorization and Cookie. Command lines (curl, wget,
 * inline scripts) hold these as often as flags do. */
static void proc_put_arg(struct proc_out *o, const char *a, size_t len)
{
	static const char *const hdrs[] = {
		"authorization:", "proxy-authorization:", "cookie:", "set-cookie:",
	};
	size_t i = 0, j;

	while (i < len) {
		if (a[i] == ':' && len - i >= 3 && a[i + 1] == '/' && a[i + 2] == '/') {
			proc_out_put(o, a + i, 3);
			i += 3;
			for (j = i; j < len && !proc_url_end(a[j]) && a[j] != '/' && a[j] != '?' &&
			     a[j] != '@'; j++)
				;
			if (j < len && a[j] == '@') {
				proc_out_put(o, "REDACTED@", 9);
				i = j + 1;
			}
			continue;
		}
		if (a[i] == '?') {
			proc_out_put(o, "?", 1);
			i++;
			while (i < len && !proc_url_end(a[i])) {
				for (j = i; j < len && !proc_url_end(a[j]) && a[j] != '=' && a[j] != '&';
				     j++)
					;
				proc_out_put(o, a + i, j - i);
				i = j;
				if (i < len && a[i] == '=') {
					proc_out_put(o, "=REDACTED", 9);
					while (i < len && !proc_url_end(a[i]) && a[i] != '&')
						i++;
				}
				if (i < len && a[i] == '&') {
					proc_out_put(o, "&", 1);
					i++;
				}
			}
			continue;
		}
		for (j = 0; j < sizeof(hdrs) / sizeof(hdrs[0]); j++) {
			if (proc_prefix_ci(a + i, len - i, hdrs[j]))
				break;
		}
		if (j < sizeof(hdrs) / sizeof(hdrs[0])) {
			size_t n = strlen(hdrs[j]);

			proc_out_put(o, a + i, n);
			proc_out_put(o, " REDACTED", 9);
			i += n;
			/* To the end of the header: a quote, an escaped or a
			 * real line break, or the argument's end. */
			while (i < len && a[i] != '"' && a[i] != '\'' && a[i] != '\\' &&
			       a[i] != '\r' && a[i] != '\n')
				i++;
			continue;
		}
		proc_out_put(o, a + i, 1);
		i++;
	}
}

/* A process that rewrote its argv into one string (setproctitle) is split at
 * spaces instead, so that "--token x" inside it is still found. */
size_t proc_cmdline_redact(char *dst, size_t dstsz, const char *raw, size_t len)
{
	struct proc_out o = { .dst = dst, .size = dstsz, .len = 0 };
	bool split_spaces, redact_next = false;
	size_t i = 0, nargs = 0;

	if (!dstsz)
		return 0;
	dst[0] = '\0';
	while (len && raw[len - 1] == '\0')
		len--;
	split_spaces = !memchr(raw, '\0', len);

	while (i < len) {
		const char *arg = raw + i, *eq;
		size_t alen, nlen;

		while (i < len && raw[i] != '\0' && !(split_spaces && raw[i] == ' '))
			i++;
		alen = raw + i - arg;
		i++;
		if (split_spaces && !alen)
			continue;
		if (nargs++)
			proc_out_put(&o, " ", 1);

		if (redact_next) {
			redact_next = false;
			if (alen < 2 || arg[0] != '-' || arg[1] != '-') {
				proc_out_put(&o, "REDACTED", 8);
				continue;
			}
		}
		if (alen > 1 && arg[0] == '-') {
			eq = memchr(arg, '=', alen);
			nlen = eq ? (size_t)(eq - arg) : alen;
			if (proc_is_secret_name(arg, nlen)) {
				if (eq) {
					proc_out_put(&o, arg, nlen + 1);
					proc_out_put(&o, "REDACTED", 8);
					continue;
				}
				redact_next = true;
			}
		}
		proc_put_arg(&o, arg, alen);
	}
	return o.len;
}

static bool proc_is_space(char c)
{
	return c == ' ' || c == '\t';
}

static void proc_trim(const char **s, size_t *len)
{
	while (*len && proc_is_space(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len && proc_is_space((*s)[*len - 1]))
		(*len)--;
}

static size_t proc_percent_decode(char *dst, size_t dstsz, const char *s, size_t len)
{
	size_t n = 0;

	if (!dstsz)
		return 0;
	for (size_t i = 0; i < len && n < dstsz - 1; i++) {
		char c = s[i];

		if (c == '%' && i + 2 < len) {
			int hi = str_hexval(s[i + 1]), lo = str_hexval(s[i + 2]);

			if (hi >= 0 && lo >= 0) {
				c = (char)(hi << 4 | lo);
				i += 2;
			}
		}
		if (c != '\0')
			dst[n++] = c;
	}
	dst[n] = '\0';
	return n;
}

static bool proc_resource_service(char *dst, size_t dstsz, const char *s, size_t len)
{
	const char *val = NULL;
	size_t vlen = 0;
	size_t i = 0;

	while (i < len) {
		const char *key = s + i, *end, *eq;
		size_t klen;

		while (i < len && s[i] != ',')
			i++;
		end = s + i;
		i++;
		eq = memchr(key, '=', end - key);
		if (!eq)
			continue;
		klen = eq - key;
		proc_trim(&key, &klen);
		if (klen == 12 && memcmp(key, "service.name", 12) == 0) {
			val = eq + 1;
			vlen = end - val;
			proc_trim(&val, &vlen);
		}
	}
	if (!val || !vlen)
		return false;
	return proc_percent_decode(dst, dstsz, val, vlen) > 0;
}

bool proc_service_from_environ(char *dst, size_t dstsz, const char *env, size_t len)
{
	const char *v;
	size_t vlen;

	v = str_environ_get(env, len, "OTEL_SERVICE_NAME", &vlen);
	if (v) {
		str_copy(dst, dstsz, v, vlen);
		return true;
	}
	v = str_environ_get(env, len, "OTEL_RESOURCE_ATTRIBUTES", &vlen);
	return v && proc_resource_service(dst, dstsz, v, vlen);
}

ssize_t proc_read_file(const char *path, char *buf, size_t size)
{
	size_t got = 0;
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (got < size) {
		r = read(fd, buf + got, size - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return got ? (ssize_t)got : -1;
		}
		if (r == 0)
			break;
		got += r;
	}
	close(fd);
	return got;
}

void proc_listening(const char *dir, void (*fn)(void *ctx, uint16_t port, uint64_t inode),
		    void *ctx)
{
	static const char *const files[] = { "net/tcp", "net/tcp6" };
	char path[PATH_MAX], line[512];

	for (size_t f = 0; f < 2; f++) {
		FILE *fp;

		snprintf(path, sizeof(path), "%s/%s", dir, files[f]);
		fp = fopen(path, "re");
		if (!fp)
			continue;
		while (fgets(line, sizeof(line), fp)) {
			unsigned int port, state;
			unsigned long long inode;
			char *colon;

			/* sl local:port rem:port st tx:rx tr:when retrnsmt uid timeout inode */
			colon = strchr(line, ':');
			colon = colon ? strchr(colon + 1, ':') : NULL;
			if (!colon || sscanf(colon + 1, "%x %*s %x %*s %*s %*s %*s %*s %llu",
					     &port, &state, &inode) != 3 || state != 0x0a ||
			    port > 65535)
				continue;
			fn(ctx, port, inode);
		}
		fclose(fp);
	}
}

void proc_socket_fds(const char *root, uint32_t pid, size_t max_fds,
		     bool (*fn)(void *ctx, uint64_t inode), void *ctx)
{
	char dirpath[PATH_MAX], path[PATH_MAX + 2 + NAME_MAX], link[64];
	struct dirent *de;
	size_t nfd = 0;
	DIR *d;

	snprintf(dirpath, sizeof(dirpath), "%s/%u/fd", root, pid);
	d = opendir(dirpath);
	if (!d)
		return;
	while ((de = readdir(d)) && nfd++ < max_fds) {
		unsigned long long inode;
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dirpath, de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (sscanf(link, "socket:[%llu]", &inode) == 1 && !fn(ctx, inode))
			break;
	}
	closedir(d);
}

static ssize_t proc_read(uint32_t pid, const char *name, char *buf, size_t size)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%u/%s", pid, name);
	return proc_read_file(path, buf, size);
}

/* False if the process was caught inside execve(): it has an exe but its new
 * argv is not in place yet. */
static bool proc_fill(struct proc_info *pi, uint32_t pid)
{
	static char envbuf[PROC_ENVIRON_MAX];
	static char cmdbuf[PROC_CMDLINE_MAX];
	static char linkbuf[PROC_LINK_MAX];
	static const char deleted[] = " (deleted)";
	char path[64], comm[64];
	struct naming_proc np;
	const char *base;
	bool complete;
	ssize_t n;

	memset(pi, 0, sizeof(*pi));
	pi->pid = pid;

	n = proc_read(pid, "comm", comm, sizeof(comm) - 1);
	if (n < 0) {
		strcpy(pi->service_name, "unknown");
		strcpy(pi->exe_name, "unknown");
		strcpy(pi->exe_path, "unknown");
		strcpy(pi->command_line, "unknown");
		return true;
	}
	while (n && (comm[n - 1] == '\n' || comm[n - 1] == '\0'))
		n--;
	comm[n] = '\0';

	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	n = readlink(path, linkbuf, sizeof(linkbuf) - 1);
	if (n > 0) {
		if ((size_t)n > sizeof(deleted) - 1 &&
		    memcmp(linkbuf + n - (sizeof(deleted) - 1), deleted, sizeof(deleted) - 1) == 0)
			n -= sizeof(deleted) - 1;
		linkbuf[n] = '\0';
		str_copy(pi->exe_path, sizeof(pi->exe_path), linkbuf, n);
		base = strrchr(linkbuf, '/');
		base = base ? base + 1 : linkbuf;
		str_copy(pi->exe_name, sizeof(pi->exe_name), base, strlen(base));
	}
	if (!pi->exe_name[0])
		str_copy(pi->exe_name, sizeof(pi->exe_name), comm, strlen(comm));

	n = proc_read(pid, "cmdline", cmdbuf, sizeof(cmdbuf));
	if (n > 0)
		proc_cmdline_redact(pi->command_line, sizeof(pi->command_line), cmdbuf, n);
	complete = n > 0 || !pi->exe_path[0];

	n = proc_read(pid, "environ", envbuf, sizeof(envbuf));
	np = (struct naming_proc){
		.pid = pid,
		.proc_root = "/proc",
		.env = envbuf,
		.envlen = n > 0 ? (size_t)n : 0,
		.exe_path = pi->exe_path,
		.exe_name = pi->exe_name,
	};
	naming_service_name(naming_get(), &np, pi->service_name, sizeof(pi->service_name));
	return complete;
}

const struct proc_info *proc_info_get(uint32_t pid)
{
	struct proc_entry *e, *victim = NULL;

	for (size_t i = 0; i < PROC_CACHE_MAX; i++) {
		e = &proc_cache[i];
		if (e->used && e->info.pid == pid) {
			e->used = ++proc_clock;
			if (e->refills && proc_fill(&e->info, pid))
				e->refills = 0;
			else if (e->refills)
				e->refills--;
			return &e->info;
		}
		if (!victim || e->used < victim->used)
			victim = e;
	}
	victim->refills = proc_fill(&victim->info, pid) ? 0 : PROC_REFILLS;
	victim->used = ++proc_clock;
	return &victim->info;
}

const struct proc_info *proc_info_seen(uint32_t pid, const char *comm, size_t comm_len)
{
	struct proc_info *pi = (struct proc_info *)proc_info_get(pid);
	size_t n = strnlen(comm, comm_len);

	if (n && strcmp(pi->exe_name, "unknown") == 0) {
		str_copy(pi->exe_name, sizeof(pi->exe_name), comm, n);
		str_copy(pi->service_name, sizeof(pi->service_name), comm, n);
	}
	return pi;
}

void proc_info_forget(uint32_t pid)
{
	for (size_t i = 0; i < PROC_CACHE_MAX; i++) {
		if (proc_cache[i].used && proc_cache[i].info.pid == pid) {
			proc_cache[i].used = 0;
			return;
		}
	}
}

size_t proc_cache_count(void)
{
	size_t n = 0;

	for (size_t i = 0; i < PROC_CACHE_MAX; i++)
		n += proc_cache[i].used != 0;
	return n;
}

bool proc_cache_has(uint32_t pid)
{
	for (size_t i = 0; i < PROC_CACHE_MAX; i++)
		if (proc_cache[i].used && proc_cache[i].info.pid == pid)
			return true;
	return false;
}

const char *proc_host_name(void)
{
	static char host[256];
	static bool done;

	if (!done) {
		done = true;
		if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
			strcpy(host, "unknown");
		host[sizeof(host) - 1] = '\0';
	}
	return host;
}
