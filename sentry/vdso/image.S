/* SPDX-License-Identifier: Apache-2.0 */
/* The vDSO image (built from sentry/vdso/dso/ by the Makefile), embedded in the sentry. */
	.section .rodata.vdso, "a"
	.balign 4096
	.globl vdso_image
	.hidden vdso_image
vdso_image:
	.incbin VDSO_SO
	.globl vdso_image_end
	.hidden vdso_image_end
vdso_image_end:
	.section .note.GNU-stack, "", @progbits
