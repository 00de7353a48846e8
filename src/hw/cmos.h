/*
 * cmos.h - the RTC's CMOS at ports 0x70/0x71, holding what QEMU stores there
 * for firmware: the RAM below and above 4G and the CPU count (the built-in
 * guest reads its memory map from it, as SeaBIOS does), and the clock.
 */
#ifndef KVMFS_HW_CMOS_H
#define KVMFS_HW_CMOS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define CMOS_PORT_INDEX 0x70
#define CMOS_PORT_DATA  0x71

struct cmos {
	pthread_mutex_t lock; /* index and data are one register pair for all vCPUs */
	uint8_t index;
	uint8_t ram[128];
};

void cmos_init(struct cmos *c, uint64_t below_4g, uint64_t above_4g, unsigned cpus);
void cmos_exit(struct cmos *c);
void cmos_io(struct cmos *c, uint16_t port, bool is_write, uint8_t *val);

#endif
