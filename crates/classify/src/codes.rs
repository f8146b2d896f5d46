//! The hangupGcode table for what can be heard in early media, and the labels.
//!
//! Names are the platform's `hangupGname`, byte for byte (spec: hangup-codes.md).

use std::fmt;

/// A hangupGcode the classifier can hear (2101..=2118).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(u16);

/// `(code, hangupGname, English)` for every code heard in early media.
pub const HEARD_CODES: [(u16, &str, &str); 18] = [
    (2101, "用户占线", "subscriber busy"),
    (2102, "无人接听", "no answer"),
    (2103, "网络忙", "network busy"),
    (2104, "线路故障", "line fault"),
    (2105, "不在服务区", "out of service area"),
    (2106, "暂停服务", "service paused"),
    (2107, "停机", "number suspended"),
    (2108, "暂时无法接通", "temporarily unreachable"),
    (2109, "关机", "powered off"),
    (2110, "停机保号", "suspended, number kept"),
    (2111, "呼叫受限", "calls restricted"),
    (2112, "呼叫等待", "call waiting"),
    (2113, "呼叫转移", "call forwarded"),
    (2114, "空号", "number does not exist"),
    (2115, "号码不正确", "wrong number"),
    (2116, "号码无效", "invalid number"),
    (2117, "外地号码需加零", "long-distance: dial 0 first"),
    (2118, "本地不需加零", "local: do not dial 0"),
];

impl Code {
    /// Subscriber busy (announcement or busy tone).
    pub const BUSY: Code = Code(2101);
    /// Network busy (announcement or congestion tone).
    pub const NETWORK_BUSY: Code = Code(2103);
    /// Number does not exist (announcement or number-unobtainable tone).
    pub const EMPTY_NUMBER: Code = Code(2114);

    /// The code if the classifier can hear it.
    pub fn new(code: u16) -> Option<Code> {
        HEARD_CODES
            .iter()
            .any(|(c, _, _)| *c == code)
            .then_some(Code(code))
    }

    /// The numeric hangupGcode.
    pub fn get(self) -> u16 {
        self.0
    }

    /// The platform's `hangupGname`.
    pub fn name(self) -> &'static str {
        self.row().1
    }

    /// A short English description.
    pub fn english(self) -> &'static str {
        self.row().2
    }

    fn row(self) -> &'static (u16, &'static str, &'static str) {
        // Every `Code` was checked against the table in `new`.
        HEARD_CODES
            .iter()
            .find(|(c, _, _)| *c == self.0)
            .unwrap_or(&HEARD_CODES[HEARD_CODES.len() - 1])
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What the early media sounded like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Label {
    /// A recorded announcement from the library.
    Announcement,
    /// 450 Hz, 0.35 s on / 0.35 s off.
    BusyTone,
    /// 450 Hz, 0.7 s on / 0.7 s off.
    CongestionTone,
    /// 450 Hz, 3 × (0.1 / 0.1) then 0.4 / 0.4.
    UnobtainableTone,
    /// 450 Hz, 1 s on / 4 s off.
    Ringback,
    /// 450 Hz, 0.4 s on / 4 s off.
    CallWaitingTone,
    /// 450 Hz, continuous.
    DialTone,
    /// Speech that matches no library announcement (e.g. advertising colour ringback).
    UnknownSpeech,
    /// Music (colour ringback).
    Music,
    /// Nothing of interest: silence or noise.
    Silence,
}

impl Label {
    /// All labels, in a stable order.
    pub const ALL: [Label; 10] = [
        Label::Announcement,
        Label::BusyTone,
        Label::CongestionTone,
        Label::UnobtainableTone,
        Label::Ringback,
        Label::CallWaitingTone,
        Label::DialTone,
        Label::UnknownSpeech,
        Label::Music,
        Label::Silence,
    ];

    /// The wire name (`busy_tone`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Announcement => "announcement",
            Label::BusyTone => "busy_tone",
            Label::CongestionTone => "congestion_tone",
            Label::UnobtainableTone => "unobtainable_tone",
            Label::Ringback => "ringback",
            Label::CallWaitingTone => "call_waiting_tone",
            Label::DialTone => "dial_tone",
            Label::UnknownSpeech => "unknown_speech",
            Label::Music => "music",
            Label::Silence => "silence",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Label> {
        Label::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_names_match_the_spec() {
        assert_eq!(Code::new(2114).map(Code::name), Some("空号"));
        assert_eq!(Code::new(2109).map(Code::name), Some("关机"));
        assert_eq!(Code::new(2110).map(Code::name), Some("停机保号"));
        assert_eq!(Code::new(2100), None);
        assert_eq!(Code::new(1017), None);
        for (c, name, _) in HEARD_CODES {
            assert_eq!(Code::new(c).map(Code::name), Some(name));
        }
    }

    #[test]
    fn labels_parse_their_own_names() {
        for l in Label::ALL {
            assert_eq!(Label::parse(l.as_str()), Some(l));
        }
        assert_eq!(Label::parse("noise"), None);
    }
}
