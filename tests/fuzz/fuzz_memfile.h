/*
 * fuzz_memfile.h - hand fuzz input to an API that only takes a path: an
 * anonymous in-memory file, reached as /proc/self/fd/N. Header-only, shared
 * by the fuzz targets.
 */
#ifndef PGSCOPE_FUZZ_MEMFILE_H
#define PGSCOPE_FUZZ_MEMFILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * Write data to a fresh memfd and put its path in path. Returns the fd (the
 * caller closes it), or -1. Aborts on a short write: that is a harness fault.
 */
static inline int fuzz_memfile(const uint8_t *data, size_t size, char *path, size_t pathlen)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);
	size_t off = 0;

	if (fd == -1)
		return -1;
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);
		if (n <= 0)
			abort();
		off += (size_t)n;
	}
	snprintf(path, pathlen, "/proc/self/fd/%d", fd);
	return fd;
}

#endif
