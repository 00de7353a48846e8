/* blob.S - links the built-in guest's firmware image into kvmfs. */
	.section .rodata
	.balign 4096
	.globl guest_firmware
	.globl guest_firmware_end
guest_firmware:
	.incbin GUEST_FIRMWARE_BIN
guest_firmware_end:
	.section .note.GNU-stack, "", @progbits
