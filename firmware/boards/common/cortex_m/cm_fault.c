/* The fault report: a fault prints one text line on the link, which the harness turns into a failure naming the
 * exception and the faulting pc, then the device resets. */
#include "cortex_m.h"
#include "hil/hil_proto.h"

static void cm_fault_puts(const char *s)
{
    size_t n = 0;
    while (s[n] != '\0') {
        n++;
    }
    hil_port_write((const uint8_t *)s, n);
}

static void cm_fault_hex(uint32_t v)
{
    char buf[9];
    for (int i = 7; i >= 0; i--) {
        buf[i] = "0123456789abcdef"[v & 0xFu];
        v >>= 4;
    }
    buf[8] = '\0';
    cm_fault_puts(buf);
}

/* frame = the exception stack frame: r0 r1 r2 r3 r12 lr pc xpsr */
void cm_fault_report(const uint32_t *frame);
void cm_fault_report(const uint32_t *frame)
{
    uint32_t ipsr;
    __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
    /* The 0x00 ends any frame the fault cut short, so the host's reader sees the marker as a line of its own. */
    const uint8_t delimiter = HIL_FRAME_DELIMITER;
    hil_port_write(&delimiter, 1u);
    cm_fault_puts("HIL-FAULT exception=");
    cm_fault_hex(ipsr & 0x1FFu);
    cm_fault_puts(" pc=");
    cm_fault_hex(frame[6]);
    cm_fault_puts(" lr=");
    cm_fault_hex(frame[5]);
    cm_fault_puts("\r\n");
    hil_port_reboot();
}

__attribute__((naked)) void HardFault_Handler(void)
{
    __asm volatile("tst   lr, #4        \n"
                   "ite   eq            \n"
                   "mrseq r0, msp       \n"
                   "mrsne r0, psp       \n"
                   "b     cm_fault_report\n");
}

/* An interrupt nobody enabled, or a fault other than HardFault: report it as one. */
void Default_Handler(void)
{
    HardFault_Handler();
}
