/* SPDX-License-Identifier: Apache-2.0 */
/* libcvisor: run untrusted Linux x86-64 code under a user-space kernel. Umbrella header. */
#ifndef CVISOR_CVISOR_H
#define CVISOR_CVISOR_H

#include <cvisor/common.h>
#include <cvisor/cpu.h>
#include <cvisor/memfile.h>
#include <cvisor/platform.h>
#include <cvisor/as.h>
#include <cvisor/ctx.h>

#endif
