/*
 * serial.c - an 8250/16550A UART: the guest's console.
 *
 * Transmission is instantaneous (THR is always empty again by the time the
 * guest looks), so LSR always shows THRE|TEMT and the THR-empty interrupt
 * fires as soon as it is enabled.  Input comes from the host in bytes
 * queued with serial_receive().
 */
#include <string.h>

#include "hw/console.h"
#include "hw/serial.h"

enum {
	UART_RBR_THR = 0, /* DLL when DLAB */
	UART_IER = 1,     /* DLM when DLAB */
	UART_IIR_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define MCR_OUT2 0x08
#define IER_RDI  0x01
#define IER_THRI 0x02
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI  0x04
#define IIR_FIFO 0xc0
#define LSR_DR   0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_CTS  0x10
#define MSR_DSR  0x20
#define MSR_DCD  0x80

void serial_init(struct serial *s, struct console *console)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->console = console;
	s->iir = IIR_NONE;
	s->lsr = LSR_THRE | LSR_TEMT;
	s->msr = MSR_DCD | MSR_DSR | MSR_CTS;
	s->mcr = MCR_OUT2;
	s->dll = 12; /* 9600 baud, as after a BIOS */
}

void serial_exit(struct serial *s)
{
	pthread_mutex_destroy(&s->lock);
}

/* Recompute IIR and the interrupt line from the pending conditions. */
static void serial_update_irq(struct serial *s)
{
	uint8_t iir = IIR_NONE;

	if ((s->ier & IER_RDI) && s->rx_len)
		iir = IIR_RDI;
	else if ((s->ier & IER_THRI) && s->thr_ipending)
		iir = IIR_THRI;
	s->iir = iir | IIR_FIFO;
	if (s->irq)
		s->irq(s->irq_opaque, iir != IIR_NONE && (s->mcr & MCR_OUT2));
}

static void rx_push(struct serial *s, uint8_t c)
{
	if (s->rx_len == SERIAL_RX_FIFO)
		return;
	s->rx[(s->rx_head + s->rx_len) % SERIAL_RX_FIFO] = c;
	s->rx_len++;
	s->lsr |= LSR_DR;
}

static void serial_write(struct serial *s, unsigned off, uint8_t v)
{
	switch (off) {
	case UART_RBR_THR:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
			break;
		}
		if (s->mcr & MCR_LOOP) {
			rx_push(s, v);
		} else {
			/* The console lock is separate; keep the UART's short. */
			pthread_mutex_unlock(&s->lock);
			console_write(s->console, &v, 1);
			pthread_mutex_lock(&s->lock);
		}
		s->thr_ipending = true;
		break;
	case UART_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			break;
		}
		/* Enabling THRI with THR empty raises it at once, as a 16550A does. */
		if (!(s->ier & IER_THRI) && (v & IER_THRI))
			s->thr_ipending = true;
		s->ier = v & 0x0f;
		break;
	case UART_IIR_FCR: break; /* FIFO control: the FIFO is always on and never overruns */
	case UART_LCR: s->lcr = v; break;
	case UART_MCR: s->mcr = v & 0x1f; break;
	case UART_SCR: s->scr = v; break;
	default: break; /* LSR, MSR: read-only */
	}
}

static uint8_t serial_read(struct serial *s, unsigned off)
{
	uint8_t v;

	switch (off) {
	case UART_RBR_THR:
		if (s->lcr & LCR_DLAB)
			return s->dll;
		if (!s->rx_len)
			return 0;
		v = s->rx[s->rx_head];
		s->rx_head = (s->rx_head + 1) % SERIAL_RX_FIFO;
		if (!--s->rx_len)
			s->lsr &= (uint8_t)~LSR_DR;
		return v;
	case UART_IER: return s->lcr & LCR_DLAB ? s->dlm : s->ier;
	case UART_IIR_FCR:
		v = s->iir;
		/* Reading IIR acknowledges a THR-empty interrupt. */
		if ((v & 0x0f) == IIR_THRI)
			s->thr_ipending = false;
		return v;
	case UART_LCR: return s->lcr;
	case UART_MCR: return s->mcr;
	case UART_LSR: return s->lsr;
	case UART_MSR:
		if (s->mcr & MCR_LOOP) /* modem outputs looped back to inputs */
			return (uint8_t)(((s->mcr & 0x0c) << 4) | ((s->mcr & 0x01) << 5) |
			                 ((s->mcr & 0x02) << 3));
		return s->msr;
	default: return s->scr;
	}
}

void serial_io(struct serial *s, unsigned offset, bool is_write, uint8_t *val)
{
	pthread_mutex_lock(&s->lock);
	if (is_write)
		serial_write(s, offset, *val);
	else
		*val = serial_read(s, offset);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

unsigned serial_receive(struct serial *s, const uint8_t *buf, unsigned len)
{
	unsigned n;

	pthread_mutex_lock(&s->lock);
	for (n = 0; n < len && s->rx_len < SERIAL_RX_FIFO; n++)
		rx_push(s, buf[n]);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}
