/* SPDX-License-Identifier: Apache-2.0 */
/* The systrap stub blob (built from src/systrap/stub/ by the Makefile), embedded read-only. */
	.section .rodata, "a"
	.balign 64
	.globl cv_systrap_blob, cv_systrap_blob_end
	.hidden cv_systrap_blob, cv_systrap_blob_end
cv_systrap_blob:
	.incbin STUB_BIN
cv_systrap_blob_end:

	.section .note.GNU-stack, "", @progbits
