/*
 * cmos.c - the MC146818 RTC's CMOS RAM, with the bytes QEMU's PC stores for
 * its firmware, and a clock that reads the host's time.
 */
#include <string.h>
#include <time.h>

#include "hw/cmos.h"

/* Registers and the QEMU/SeaBIOS memory bytes. */
enum {
	CMOS_SECONDS = 0x00,
	CMOS_MINUTES = 0x02,
	CMOS_HOURS = 0x04,
	CMOS_WEEKDAY = 0x06,
	CMOS_DAY = 0x07,
	CMOS_MONTH = 0x08,
	CMOS_YEAR = 0x09,
	CMOS_STATUS_A = 0x0a,
	CMOS_STATUS_B = 0x0b,
	CMOS_STATUS_D = 0x0d,
	CMOS_BASE_MEM_LO = 0x15, /* KiB below 640K */
	CMOS_BASE_MEM_HI = 0x16,
	CMOS_EXT_MEM_LO = 0x17, /* KiB from 1 MiB, capped at 0xffff */
	CMOS_EXT_MEM_HI = 0x18,
	CMOS_EXT_MEM2_LO = 0x30,
	CMOS_EXT_MEM2_HI = 0x31,
	CMOS_CENTURY = 0x32,
	CMOS_MEM_16M_LO = 0x34, /* 64 KiB units from 16 MiB to the end of low RAM */
	CMOS_MEM_16M_HI = 0x35,
	CMOS_MEM_4G_LO = 0x5b, /* 64 KiB units above 4G, three bytes */
	CMOS_MEM_4G_MID = 0x5c,
	CMOS_MEM_4G_HI = 0x5d,
	CMOS_NR_CPUS = 0x5f, /* CPUs - 1 */
};

static uint8_t bcd(int v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

void cmos_init(struct cmos *c, uint64_t below_4g, uint64_t above_4g, unsigned cpus)
{
	uint64_t ext_kb, mem16, mem4g;

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->ram[CMOS_BASE_MEM_LO] = 640 & 0xff;
	c->ram[CMOS_BASE_MEM_HI] = 640 >> 8;
	ext_kb = below_4g > (1 << 20) ? (below_4g - (1 << 20)) / 1024 : 0;
	if (ext_kb > 0xffff)
		ext_kb = 0xffff;
	c->ram[CMOS_EXT_MEM_LO] = c->ram[CMOS_EXT_MEM2_LO] = (uint8_t)ext_kb;
	c->ram[CMOS_EXT_MEM_HI] = c->ram[CMOS_EXT_MEM2_HI] = (uint8_t)(ext_kb >> 8);
	mem16 = below_4g > (16 << 20) ? (below_4g - (16 << 20)) >> 16 : 0;
	if (mem16 > 0xffff)
		mem16 = 0xffff;
	c->ram[CMOS_MEM_16M_LO] = (uint8_t)mem16;
	c->ram[CMOS_MEM_16M_HI] = (uint8_t)(mem16 >> 8);
	mem4g = above_4g >> 16;
	c->ram[CMOS_MEM_4G_LO] = (uint8_t)mem4g;
	c->ram[CMOS_MEM_4G_MID] = (uint8_t)(mem4g >> 8);
	c->ram[CMOS_MEM_4G_HI] = (uint8_t)(mem4g >> 16);
	c->ram[CMOS_NR_CPUS] = (uint8_t)(cpus - 1);
	c->ram[CMOS_STATUS_A] = 0x26; /* 32.768 kHz, 1024 Hz; never updating */
	c->ram[CMOS_STATUS_B] = 0x02; /* 24 hours, BCD */
	c->ram[CMOS_STATUS_D] = 0x80; /* battery good */
}

void cmos_exit(struct cmos *c)
{
	pthread_mutex_destroy(&c->lock);
}

static uint8_t cmos_clock(uint8_t index, uint8_t stored)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	switch (index) {
	case CMOS_SECONDS: return bcd(tm.tm_sec);
	case CMOS_MINUTES: return bcd(tm.tm_min);
	case CMOS_HOURS: return bcd(tm.tm_hour);
	case CMOS_WEEKDAY: return bcd(tm.tm_wday + 1);
	case CMOS_DAY: return bcd(tm.tm_mday);
	case CMOS_MONTH: return bcd(tm.tm_mon + 1);
	case CMOS_YEAR: return bcd(tm.tm_year % 100);
	case CMOS_CENTURY: return bcd((tm.tm_year + 1900) / 100);
	default: return stored;
	}
}

void cmos_io(struct cmos *c, uint16_t port, bool is_write, uint8_t *val)
{
	pthread_mutex_lock(&c->lock);
	if (port == CMOS_PORT_INDEX) {
		/* Bit 7 is the NMI mask, not part of the index. */
		if (is_write)
			c->index = *val & 0x7f;
		else
			*val = 0xff;
	} else if (is_write) {
		if (c->index > CMOS_STATUS_D)
			c->ram[c->index] = *val;
	} else {
		*val = cmos_clock(c->index, c->ram[c->index]);
	}
	pthread_mutex_unlock(&c->lock);
}
