// SPDX-License-Identifier: Apache-2.0
// Guest program: private read-only file mappings that cvisor shares between mappings and processes
// must still behave as private copies — mprotect to writable and a write change only that mapping,
// never another mapping, another process or the file.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	char path[] = "/tmp/cvisor-cow-XXXXXX";
	int fd = mkstemp(path);
	char page[8192];
	memset(page, 'f', sizeof(page));
	memcpy(page, "file contents", 13);
	if (fd < 0 || write(fd, page, sizeof(page)) != (ssize_t)sizeof(page))
		return 1;
	char *a = mmap(NULL, sizeof(page), PROT_READ, MAP_PRIVATE, fd, 0);
	char *b = mmap(NULL, sizeof(page), PROT_READ, MAP_PRIVATE, fd, 0);
	printf("both map the file: %.13s %.13s\n", a, b);
	printf("mprotect: %d\n", mprotect(a, sizeof(page), PROT_READ | PROT_WRITE));
	memcpy(a, "changed in a!", 13);
	printf("a: %.13s, b: %.13s\n", a, b);
	pid_t c = fork();
	if (c == 0) {
		mprotect(b, 4096, PROT_READ | PROT_WRITE);
		memcpy(b, "changed in b!", 13);
		printf("child b: %.13s\n", b);
		_exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	printf("parent b after the child wrote: %.13s\n", b);
	char *d = mmap(NULL, sizeof(page), PROT_READ, MAP_PRIVATE, fd, 0);
	char back[13];
	pread(fd, back, 13, 0);
	printf("a new mapping: %.13s, the file: %.13s\n", d, back);
	printf("second page untouched: %c %c\n", a[5000], b[5000]);
	unlink(path);
	return 0;
}
