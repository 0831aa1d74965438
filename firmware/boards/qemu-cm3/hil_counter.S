/* hil_port_counter() for the MPS2 AN385 under QEMU -icount shift=0: exact instruction counts from a 25 MHz counter.
 *
 * Nothing on this machine counts at 1 GHz. Measured with a probe image (4,000,000 loop instructions between two
 * reads): SysTick 100,000 ticks on the core clock and 4,000 on the reference clock, CMSDK timer0 and dual timer
 * 100,000, FPGAIO COUNTER 100,000, DWT CYCCNT absent (DWT_CTRL reads 0, CYCCNT stays 0). Every timer runs from
 * the 25 MHz SYSCLK: one tick per 40 instructions. Reading one twice would round a span to +-40 instructions.
 *
 * So the counter finds where it stands inside the 40-instruction tick, to the instruction:
 *   1. spin (4 instructions a round) until FPGAIO COUNTER changes: that probe read lies 0..3 instructions after the
 *      tick edge at 40 * COUNTER instructions since the machine reset;
 *   2. exactly 37 instructions after that probe, read COUNTER three more times, one instruction apart: the reads
 *      that already see the next tick say how far behind the edge the probe was (0..3), so the probe's time is
 *      40 * COUNTER + phase, exact;
 *   3. everything else in this function runs a fixed number of instructions, so the only variable part is the
 *      spin. Its instructions are added to hil_counter_spin and subtracted from every reading.
 * The value is therefore "instructions executed outside the spin of this function, since reset" (plus the virtual
 * time QEMU lets pass while the core sleeps in WFI, which no measured span contains): two readings differ by the
 * instructions between them plus a constant (this function's fixed length), however the spin fell. The constant
 * is the same in every measured span, so repeated measurements of the same work are bit-identical.
 * No interrupt runs inside the function (PRIMASK set), none is used to extend the count, and the instructions a
 * pending interrupt runs after PRIMASK is restored are counted where they run, as on any core.
 *
 * 64 bits: COUNTER (32 bits at 25 MHz) wraps every 172 s of virtual time. The FPGAIO CLK100HZ counter starts at
 * the same reset with the same virtual clock, so CLK100HZ * 250,000 is the tick count to within 250,000 below;
 * the 32 exact low bits of COUNTER then pick the one value within +-2^31 of it. CLK100HZ itself wraps after 497
 * days of virtual time, far beyond any session.
 *
 * Validated with a probe image (QEMU 7.2) that calls this function around a jump into a NOP sled running n = 0..160
 * instructions, four times over (every phase of the tick, many spin lengths): all 644 spans measured n + 80 exactly
 * (80 = sled entry and exit, call glue and this function's fixed part); a loop of 4,000,000 instructions measured
 * 4,000,076 on every run; two back-to-back calls 73. The check has teeth: with 15 or 17 rounds of padding in
 * step 2 instead of 16, 403 and 515 of the 644 spans were off by 1..3.
 * QEMU's FPGAIO model computes COUNTER and CLK100HZ from QEMU_CLOCK_VIRTUAL by arithmetic (no reload or wrap
 * off-by-one), both from the same reset instant, which is what makes step 2 and the 64-bit extension exact.
 *
 * On a real MPS2 board the same code would return 40 x 25 MHz ticks plus a phase that means nothing there; a port
 * for real hardware reports the 25 MHz count as it is (HIL_COUNTER_CPU_CYCLES-like), not instructions.
 */
    .syntax unified
    .thumb

    .section .bss.hil_counter_spin, "aw", %nobits
    .balign 8
hil_counter_spin: /* u64: instructions spent in step 1 over all calls */
    .space 8

    .section .text.hil_port_counter, "ax", %progbits
    .global hil_port_counter
    .type hil_port_counter, %function
    .thumb_func
hil_port_counter:
    push    {r4-r7, lr}
    mrs     r12, primask
    cpsid   i
    movw    r1, #0x8018
    movt    r1, #0x4002             /* FPGAIO COUNTER */
    movs    r5, #0                  /* spin rounds */
    ldr     r2, [r1]
1:  ldr     r3, [r1]                /* the probe: instruction 0 */
    adds    r5, #1
    cmp     r3, r2
    beq     1b                      /* instructions 1..3 */
    movs    r4, #16                 /* instruction 4, then 2 x 16 in the loop: 5..36 */
2:  subs    r4, #1
    bne     2b
    ldr     r4, [r1]                /* instruction 37 */
    ldr     r6, [r1]                /* 38 */
    ldr     r7, [r1]                /* 39 */
    ldr     r2, [r1, #-4]           /* CLK100HZ */
    msr     primask, r12
    /* phase = how many of the three late reads already see the next tick (each is r3 or r3 + 1) */
    subs    r4, r4, r3
    subs    r6, r6, r3
    subs    r7, r7, r3
    adds    r4, r4, r6
    adds    r4, r4, r7
    /* 64-bit tick count: the value = COUNTER (mod 2^32) nearest CLK100HZ * 250,000 */
    movw    r0, #0xD090
    movt    r0, #0x0003             /* 250,000 ticks of 25 MHz per 100 Hz tick */
    umull   r0, r1, r2, r0
    subs    r2, r3, r0
    adds    r0, r0, r2
    adc     r1, r1, r2, asr #31
    /* instructions = 40 * ticks + phase, 64-bit */
    movs    r2, #40
    mul     r1, r1, r2
    umull   r0, r3, r0, r2
    add     r1, r1, r3
    adds    r0, r0, r4
    adc     r1, r1, #0
    /* minus every spin instruction so far, this call's included (4 per round) */
    movw    r2, #:lower16:hil_counter_spin
    movt    r2, #:upper16:hil_counter_spin
    ldrd    r6, r7, [r2]
    adds    r6, r6, r5, lsl #2
    adc     r7, r7, #0
    strd    r6, r7, [r2]
    subs    r0, r0, r6
    sbc     r1, r1, r7
    pop     {r4-r7, pc}
    .size hil_port_counter, . - hil_port_counter
