/*
 * flood.S - test firmware that writes to the serial port as fast as it can,
 * forever, without looking at the line status.  The VMM must stay
 * responsive (and its console bounded) under such a guest.  It stays in
 * real mode: ring 0 is enough for port I/O and nothing else is needed.
 */
#include <kvmfs/guest.h>

#include "testfw.h"

	.section .text, "ax"
	.code16
start16:
	movw $GUEST_SERIAL_PORT, %dx
	/* Printable ASCII from '!' to '~', then a newline, over and over, so
	 * a human looking at the output can see it is a flood and not noise. */
1:	movb $'!', %al
2:	outb %al, %dx
	incb %al
	cmpb $'~' + 1, %al
	jne 2b
	movb $'\n', %al
	outb %al, %dx
	jmp 1b

	TESTFW_RESET_VECTOR start16
