"""Truth from the capture: one WireConn per TCP 4-tuple, read from the harness's own pcap parser.

Everything here is measured at the capture point, like finwatch's durations, so the two can be
compared to the microsecond."""
from __future__ import annotations

from dataclasses import dataclass, field

from pcapread import Segment

MOD = 1 << 32


def seq_ge(a: int, b: int) -> bool:
    return ((a - b) % MOD) < (1 << 31)


@dataclass
class WireConn:
    a: tuple[str, int]
    b: tuple[str, int]
    segs: list[Segment] = field(default_factory=list)

    # -- sides -----------------------------------------------------------------------------
    @property
    def syn(self) -> Segment | None:
        return next((s for s in self.segs if s.has(Segment.SYN) and not s.has(Segment.ACK)), None)

    @property
    def handshake_seen(self) -> bool:
        return self.syn is not None

    @property
    def orig(self) -> tuple[str, int]:
        """The SYN sender; without a SYN, the side sending from the ephemeral (higher) port."""
        if self.syn:
            return self.syn.src
        return self.a if self.a[1] > self.b[1] else self.b

    @property
    def resp(self) -> tuple[str, int]:
        return self.b if self.orig == self.a else self.a

    def side(self, ep: tuple[str, int]) -> str:
        return "orig" if ep == self.orig else "resp"

    def ep(self, side: str) -> tuple[str, int]:
        return self.orig if side == "orig" else self.resp

    def other(self, side: str) -> str:
        return "resp" if side == "orig" else "orig"

    # -- FINs --------------------------------------------------------------------------------
    def fins(self, side: str) -> list[Segment]:
        return [s for s in self.segs if s.has(Segment.FIN) and s.src == self.ep(side)]

    def fin_end(self, side: str) -> int | None:
        """Sequence number just past the side's FIN (what an ACK of the FIN carries)."""
        f = self.fins(side)
        return (f[0].seq + f[0].payload + 1) % MOD if f else None

    def fin_retransmits(self, side: str) -> int:
        f = self.fins(side)
        return sum(1 for s in f[1:] if s.seq == f[0].seq) if f else 0

    def fin_intervals_ms(self, side: str) -> list[float]:
        f = self.fins(side)
        return [(b.t_us - a.t_us) / 1000 for a, b in zip(f, f[1:])]

    @property
    def first_fin(self) -> Segment | None:
        return next((s for s in self.segs if s.has(Segment.FIN)), None)

    @property
    def active_closer(self) -> str | None:
        """`both` when each side's first FIN was sent before it had received the other's FIN
        (its ACK field does not cover the peer's FIN): the FINs crossed."""
        fo, fr = self.fins("orig"), self.fins("resp")
        if fo and fr:
            o_acks_r = fo[0].has(Segment.ACK) and seq_ge(fo[0].ack, self.fin_end("resp"))
            r_acks_o = fr[0].has(Segment.ACK) and seq_ge(fr[0].ack, self.fin_end("orig"))
            if not o_acks_r and not r_acks_o:
                return "both"
        ff = self.first_fin
        return self.side(ff.src) if ff else None

    def fin_acked_at(self, side: str) -> Segment | None:
        end = self.fin_end(side)
        if end is None:
            return None
        peer = self.ep(self.other(side))
        return next((s for s in self.segs if s.src == peer and s.has(Segment.ACK) and seq_ge(s.ack, end)
                     and s.t_us >= self.fins(side)[0].t_us), None)

    @property
    def close_wait_ms(self) -> float | None:
        ac = self.active_closer
        if ac not in ("orig", "resp"):
            return None
        fa, fp = self.fins(ac), self.fins(self.other(ac))
        if not fa or not fp:
            return None
        return (fp[0].t_us - fa[0].t_us) / 1000

    # -- RSTs --------------------------------------------------------------------------------
    @property
    def rsts(self) -> list[Segment]:
        return [s for s in self.segs if s.has(Segment.RST)]

    @property
    def first_rst(self) -> Segment | None:
        r = self.rsts
        return r[0] if r else None

    def final_ack_retransmits(self) -> int:
        """ACKs of the passive side's FIN sent again (each answering a retransmitted FIN)."""
        ac = self.active_closer
        if ac not in ("orig", "resp"):
            return 0
        passive = self.other(ac)
        end = self.fin_end(passive)
        if end is None:
            return 0
        first_p_fin = self.fins(passive)[0].t_us
        acks = [s for s in self.segs if s.src == self.ep(ac) and s.has(Segment.ACK) and not s.has(Segment.FIN)
                and not s.has(Segment.RST) and s.ack == end and s.payload == 0 and s.t_us >= first_p_fin]
        return max(0, len(acks) - 1)

    def time_wait_aftermath(self) -> dict[str, int]:
        """Anomaly events the wire shows after a normal close's final ACK, while the active closer
        holds TIME_WAIT: its final ACK sent again (`final_ack_retransmit`, one per copy) and an
        RST from the peer into it (`time_wait_reset`, RFC 1337). Linux does both unprompted when
        a late ACK from the peer reaches the TIME_WAIT socket: it acknowledges again, and the
        peer, whose socket is gone, answers with an RST. A new SYN starts another connection."""
        ac = self.active_closer
        if ac not in ("orig", "resp"):
            return {}
        passive = self.other(ac)
        final = self.fin_acked_at(passive)
        if final is None or final.src != self.ep(ac):
            return {}
        end = self.fin_end(passive)
        out: dict[str, int] = {}
        for s in self.segs[self.segs.index(final) + 1:]:
            if s.has(Segment.SYN):
                break
            if s.src == self.ep(passive) and s.has(Segment.RST):
                out["time_wait_reset"] = 1   # the residue ends with it
                break
            if (s.src == self.ep(ac) and s.has(Segment.ACK) and not s.has(Segment.FIN) and not s.has(Segment.RST)
                    and s.payload == 0 and s.ack == end):
                out["final_ack_retransmit"] = out.get("final_ack_retransmit", 0) + 1
        return out

    def wire_class(self) -> str:
        """The contract's `close` classification applied to what the capture shows."""
        syns = [s for s in self.segs if s.has(Segment.SYN)]
        synack = any(s.has(Segment.SYN) and s.has(Segment.ACK) for s in syns)
        if syns and not synack:
            rst = self.first_rst
            if rst and rst.src == self.resp:
                return "refused"
            return "no_answer"
        rst, ff = self.first_rst, self.first_fin
        if rst:
            return "reset_after_fin" if ff and ff.t_us <= rst.t_us else "reset"
        if self.fins("orig") and self.fins("resp"):
            both_acked = self.fin_acked_at("orig") and self.fin_acked_at("resp")
            if both_acked:
                return "simultaneous" if self.active_closer == "both" else "normal"
            return "half_closed"
        return "half_closed" if ff else "unterminated"

    def describe(self) -> str:
        t0 = self.segs[0].t_us if self.segs else 0
        return "\n".join(f"  {(s.t_us - t0) / 1000:9.3f}ms {self.side(s.src):4} {s.flag_text:5} "
                         f"seq={s.seq} ack={s.ack} len={s.payload}" for s in self.segs)


def connections(segs: list[Segment]) -> dict[frozenset, WireConn]:
    """Segments grouped by 4-tuple; a SYN (no ACK) after the connection's FIN/RST starts a new
    incarnation, kept under the key with a counter so TIME_WAIT reuse shows two connections."""
    conns: dict[frozenset, list[WireConn]] = {}
    for s in segs:
        key = frozenset([s.src, s.dst])
        lst = conns.setdefault(key, [])
        if s.has(Segment.SYN) and not s.has(Segment.ACK) and lst and (lst[-1].first_fin or lst[-1].first_rst) \
                and lst[-1].syn and lst[-1].syn.seq != s.seq:
            lst.append(WireConn(s.src, s.dst))
        if not lst:
            lst.append(WireConn(s.src, s.dst))
        lst[-1].segs.append(s)
    out: dict = {}
    for key, lst in conns.items():
        out[key] = lst[0]
        for i, c in enumerate(lst[1:], 1):
            out[(key, i)] = c
    return out


def parse_ts(text: str) -> int | None:
    """RFC 3339 UTC with microseconds -> µs since the epoch (None if it is not that)."""
    import datetime
    try:
        dt = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None
    return int(dt.timestamp()) * 1_000_000 + dt.microsecond


def derived_fields(c: WireConn, end_us: int) -> dict:
    """What the wire says about the contract's `sequence`, `packets` and `durations_ms` for a
    close record written at `end_us` (the packet that completed the teardown)."""
    upto = [s for s in c.segs if s.t_us <= end_us]
    out: dict = {"packets": {"orig": sum(1 for s in upto if s.src == c.orig),
                             "resp": sum(1 for s in upto if s.src == c.resp)}}
    start = next((s for s in upto if s.has(Segment.FIN) or s.has(Segment.RST)), None)
    if start is not None:
        seq = [{"from": c.side(s.src), "flags": s.flag_text, "ms": (s.t_us - start.t_us) / 1000}
               for s in upto if s.t_us >= start.t_us]
        out["sequence"] = seq[:32]
    if upto:
        out["durations_ms.lifetime"] = (end_us - upto[0].t_us) / 1000
    ac = c.active_closer
    if ac in ("orig", "resp") and c.wire_class() == "normal":
        pa, pp = c.other(ac), ac
        fa, fp = c.fins(ac)[0], c.fins(pa)[0]
        ack_a, ack_p = c.fin_acked_at(ac), c.fin_acked_at(pa)
        out["durations_ms.fin_wait_1"] = (ack_a.t_us - fa.t_us) / 1000
        out["durations_ms.fin_wait_2"] = max(0, fp.t_us - ack_a.t_us) / 1000
        out["durations_ms.last_ack"] = (ack_p.t_us - fp.t_us) / 1000
        out["durations_ms.teardown"] = (ack_p.t_us - fa.t_us) / 1000
    return out
