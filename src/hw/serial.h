/*
 * serial.h - an 8250/16550A UART at COM1 (0x3f8), enough for the built-in
 * guest and a Linux console: THR/RBR, IER, IIR, LCR with DLAB, MCR with
 * loopback, LSR, MSR, scratch.  Output goes to the console; input (stdin)
 * is fed into RBR.  The interrupt line is reported through irq() when an
 * in-kernel irqchip exists.
 */
#ifndef KVMFS_HW_SERIAL_H
#define KVMFS_HW_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct console;

#define SERIAL_COM1_BASE 0x3f8
#define SERIAL_COM1_IRQ  4 /* its ISA interrupt line */
#define SERIAL_NR_PORTS  8
#define SERIAL_RX_FIFO   64

struct serial {
	pthread_mutex_t lock; /* guards the registers: vCPUs and the stdin thread */
	struct console *console;
	uint8_t ier, iir, lcr, mcr, lsr, msr, scr, dll, dlm;
	uint8_t rx[SERIAL_RX_FIFO];
	unsigned rx_head, rx_len;
	bool thr_ipending;
	void (*irq)(void *opaque, bool level);
	void *irq_opaque;
};

void serial_init(struct serial *s, struct console *console);
void serial_exit(struct serial *s);
/* A port access at COM1 + offset; reads fill *val. */
void serial_io(struct serial *s, unsigned offset, bool is_write, uint8_t *val);
/* Queue input bytes; returns how many fitted. */
unsigned serial_receive(struct serial *s, const uint8_t *buf, unsigned len);

#endif
