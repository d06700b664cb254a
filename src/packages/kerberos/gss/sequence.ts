// Per-message sequence and replay detection (RFC 2743 1.2.3, RFC 4121 4.2.3), in the manner of
// MIT's g_seqnum: a 64-message window below the next expected number.
import { SspiError } from '../../../sspi/error.js';
import { SecurityStatus } from '../../../sspi/status.js';

/** RFC 2743 supplementary status of one received sequence number. */
export type GssSeqStatus = 'GSS_S_COMPLETE' | 'GSS_S_DUPLICATE_TOKEN' | 'GSS_S_OLD_TOKEN' | 'GSS_S_UNSEQ_TOKEN' | 'GSS_S_GAP_TOKEN';

const WINDOW = 64;

export class SequenceWindow {
  #next: number;
  // slot[seq % 64] holds the last sequence number received in that slot (-1: none): a number
  // below #next within the window was received iff its slot holds it.
  readonly #seen = new Float64Array(WINDOW).fill(-1);

  /**
   * `initial`: the peer's initial sequence number. `replay` / `sequence`: GSS_C_REPLAY_FLAG and
   * GSS_C_SEQUENCE_FLAG. Without either, every number is accepted.
   */
  constructor(initial: number, readonly replay: boolean, readonly sequence: boolean) {
    this.#next = initial;
  }

  /** The status of `seq` without recording it. */
  peek(seq: number): GssSeqStatus {
    if (seq === this.#next) return 'GSS_S_COMPLETE';
    if (seq > this.#next) return 'GSS_S_GAP_TOKEN';
    const back = this.#next - 1 - seq;
    if (back >= WINDOW) return 'GSS_S_OLD_TOKEN';
    return this.#seen[seq % WINDOW] === seq ? 'GSS_S_DUPLICATE_TOKEN' : 'GSS_S_UNSEQ_TOKEN';
  }

  /**
   * Records `seq` (call only after the token's integrity was verified). Throws SEC_E_OUT_OF_SEQUENCE
   * (what Windows' Kerberos returns from DecryptMessage/VerifySignature) for a duplicate or too-old
   * token under replay detection, and for any out-of-order or missing token under sequence detection.
   */
  check(seq: number): GssSeqStatus {
    // Numbers past 2^53 cannot come from a peer that started at a 32-bit value; refuse rather than round.
    if (!Number.isSafeInteger(seq) || seq < 0) throw new SspiError(SecurityStatus.SEC_E_OUT_OF_SEQUENCE, 'SND_SEQ out of range');
    const st = this.peek(seq);
    if (!this.replay && !this.sequence) {
      this.#record(seq, st);
      return st;
    }
    if (st === 'GSS_S_DUPLICATE_TOKEN' || st === 'GSS_S_OLD_TOKEN') {
      throw new SspiError(SecurityStatus.SEC_E_OUT_OF_SEQUENCE, `${st}: sequence number ${seq} already seen or too old`);
    }
    if (this.sequence && st !== 'GSS_S_COMPLETE') {
      throw new SspiError(SecurityStatus.SEC_E_OUT_OF_SEQUENCE, `${st}: sequence number ${seq}, expected ${this.#next}`);
    }
    this.#record(seq, st);
    return st;
  }

  #record(seq: number, st: GssSeqStatus): void {
    if (st === 'GSS_S_COMPLETE' || st === 'GSS_S_GAP_TOKEN') this.#next = seq + 1;
    if (st !== 'GSS_S_OLD_TOKEN') this.#seen[seq % WINDOW] = seq;
  }

  get next(): number {
    return this.#next;
  }
}
