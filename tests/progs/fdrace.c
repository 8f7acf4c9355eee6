// SPDX-License-Identifier: Apache-2.0
// Guest program: a descriptor closed while another thread is blocked reading it. As in Linux the read
// goes on with the file it started with (the pipe), even when new files take the descriptor's number,
// and a writer still sees a reader.
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int p[2];
static char got[32];
static ssize_t n;

static void *reader(void *arg)
{
	(void)arg;
	n = read(p[0], got, sizeof(got) - 1);
	return NULL;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (pipe(p) < 0)
		return 1;
	pthread_t th;
	pthread_create(&th, NULL, reader, NULL);
	struct timespec nap = { 0, 200 * 1000 * 1000 };
	nanosleep(&nap, NULL); /* the reader is blocked in read(2) by now (one that was not would read EBADF) */
	int fd = p[0];
	close(fd);
	int again[4];
	for (int i = 0; i < 4; i++)
		again[i] = open("/etc/passwd", O_RDONLY); /* take the number (and more) */
	printf("a new file took the closed number: %d\n", again[0] == fd);
	ssize_t w = write(p[1], "after the close", 15);
	pthread_join(th, NULL);
	printf("write %zd; the blocked read got %zd: %s\n", w, n, got);
	char line[8] = { 0 };
	printf("the new file reads its own data: %zd %.4s\n", read(again[0], line, 4), line);
	return 0;
}
