//! FIX 4.4 tag=value codec: an encoder that writes BodyLength(9) and CheckSum(10), and a
//! decoder that validates both and indexes the fields without copying them.

use std::fmt;

pub const SOH: u8 = 0x01;

/// Why bytes are not a valid FIX message; `pos` is the offending byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixError {
    pub pos: usize,
    pub what: &'static str,
}

impl fmt::Display for FixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed FIX at byte {}: {}", self.pos, self.what)
    }
}

fn err<T>(pos: usize, what: &'static str) -> Result<T, FixError> {
    Err(FixError { pos, what })
}

/// Appends the decimal digits of `v`.
#[inline]
pub fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

#[inline]
pub fn push_field(out: &mut Vec<u8>, tag: u32, value: &[u8]) {
    push_u64(out, u64::from(tag));
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(SOH);
}

fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u32, |s, &b| s.wrapping_add(u32::from(b))) as u8
}

/// Session constants written into every header.
#[derive(Debug, Clone)]
pub struct Encoder {
    /// "8=FIX.4.4\x019="
    prefix: Vec<u8>,
    /// "\x0149=SENDER\x0156=TARGET\x0134=" appended after 35=TYPE.
    comp_ids: Vec<u8>,
    body: Vec<u8>,
}

impl Encoder {
    pub fn new(begin_string: &[u8], sender: &[u8], target: &[u8]) -> Encoder {
        let mut prefix = b"8=".to_vec();
        prefix.extend_from_slice(begin_string);
        prefix.extend_from_slice(b"\x019=");
        let mut comp_ids = b"\x0149=".to_vec();
        comp_ids.extend_from_slice(sender);
        comp_ids.extend_from_slice(b"\x0156=");
        comp_ids.extend_from_slice(target);
        comp_ids.extend_from_slice(b"\x0134=");
        Encoder {
            prefix,
            comp_ids,
            body: Vec::with_capacity(256),
        }
    }

    /// Starts a message body: 35, 49, 56, 34 and 52. Add fields with `field`, then `finish`.
    pub fn begin(&mut self, msg_type: &[u8], seq_num: u64, sending_time: &[u8]) {
        self.body.clear();
        self.body.extend_from_slice(b"35=");
        self.body.extend_from_slice(msg_type);
        self.body.extend_from_slice(&self.comp_ids);
        push_u64(&mut self.body, seq_num);
        self.body.extend_from_slice(b"\x0152=");
        self.body.extend_from_slice(sending_time);
        self.body.push(SOH);
    }

    #[inline]
    pub fn field(&mut self, tag: u32, value: &[u8]) {
        push_field(&mut self.body, tag, value);
    }

    #[inline]
    pub fn field_u64(&mut self, tag: u32, value: u64) {
        push_u64(&mut self.body, u64::from(tag));
        self.body.push(b'=');
        push_u64(&mut self.body, value);
        self.body.push(SOH);
    }

    /// Bytes of the body written so far (what BodyLength will say).
    pub fn body_len(&self) -> usize {
        self.body.len()
    }

    /// Writes the whole message (header, body, checksum) into `out`.
    pub fn finish(&self, out: &mut Vec<u8>) {
        out.clear();
        out.reserve(self.prefix.len() + self.body.len() + 16);
        out.extend_from_slice(&self.prefix);
        push_u64(out, self.body.len() as u64);
        out.push(SOH);
        out.extend_from_slice(&self.body);
        let sum = checksum(out);
        out.extend_from_slice(b"10=");
        out.extend_from_slice(&[
            b'0' + sum / 100,
            b'0' + (sum / 10) % 10,
            b'0' + sum % 10,
            SOH,
        ]);
    }
}

/// UTC time as FIX UTCTimestamp with milliseconds: `YYYYMMDD-HH:MM:SS.sss`.
pub fn utc_timestamp(unix_ms: i64) -> [u8; 21] {
    let days = unix_ms.div_euclid(86_400_000);
    let ms_of_day = unix_ms.rem_euclid(86_400_000);
    // Civil date from days since 1970-01-01 (proleptic Gregorian, 400-year eras).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, ms) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    let mut out = [0u8; 21];
    let mut put = |at: usize, v: i64, width: usize| {
        let mut v = v;
        for k in (0..width).rev() {
            out[at + k] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year, 4);
    put(4, month, 2);
    put(6, day, 2);
    put(9, h, 2);
    put(12, m, 2);
    put(15, s, 2);
    put(18, ms, 3);
    out[8] = b'-';
    out[11] = b':';
    out[14] = b':';
    out[17] = b'.';
    out
}

/// FIX 4.4 data fields as (length tag, data tag). A data value may hold any byte, SOH
/// included, so its extent comes from the length field, which must come right before it.
pub const DATA_FIELDS: [(u32, u32); 16] = [
    (90, 91),   // SecureDataLen, SecureData
    (93, 89),   // SignatureLength, Signature
    (95, 96),   // RawDataLength, RawData
    (212, 213), // XmlDataLen, XmlData
    (348, 349), // EncodedIssuerLen, EncodedIssuer
    (350, 351), // EncodedSecurityDescLen, EncodedSecurityDesc
    (352, 353), // EncodedListExecInstLen, EncodedListExecInst
    (354, 355), // EncodedTextLen, EncodedText
    (356, 357), // EncodedSubjectLen, EncodedSubject
    (358, 359), // EncodedHeadlineLen, EncodedHeadline
    (360, 361), // EncodedAllocTextLen, EncodedAllocText
    (362, 363), // EncodedUnderlyingIssuerLen, EncodedUnderlyingIssuer
    (364, 365), // EncodedUnderlyingSecurityDescLen, EncodedUnderlyingSecurityDesc
    (445, 446), // EncodedListStatusTextLen, EncodedListStatusText
    (618, 619), // EncodedLegIssuerLen, EncodedLegIssuer
    (621, 622), // EncodedLegSecurityDescLen, EncodedLegSecurityDesc
];

/// The length tag that must precede data tag `tag`, if `tag` is a data field.
#[inline]
pub fn length_tag_of(tag: u32) -> Option<u32> {
    DATA_FIELDS.iter().find(|p| p.1 == tag).map(|p| p.0)
}

/// True if `tag` gives the byte count of the data field after it.
#[inline]
pub fn is_length_tag(tag: u32) -> bool {
    DATA_FIELDS.iter().any(|p| p.0 == tag)
}

/// Largest tag number the decoder reads (nine digits).
pub const MAX_TAG: u32 = 999_999_999;

/// Largest BodyLength the framing reads (seven digits).
pub const MAX_BODY_LENGTH: usize = 9_999_999;

/// Checks the fields of a message being built against what `decode` accepts, so that
/// the encoder never writes a message its own decoder refuses. Feed it every field in
/// order.
#[derive(Debug, Default, Clone)]
pub struct FieldCheck {
    /// The previous field, when it was a length field: (its tag, the count it gave).
    pending: Option<(u32, usize)>,
}

impl FieldCheck {
    /// Accepts or refuses the next field, saying why.
    pub fn field(&mut self, tag: u32, value: &[u8]) -> Result<(), &'static str> {
        let pending = self.pending.take();
        if tag == 0 || tag > MAX_TAG {
            return Err("tag must be between 1 and 999999999");
        }
        if value.is_empty() {
            return Err("empty value");
        }
        if let Some(length_tag) = length_tag_of(tag) {
            match pending {
                Some((t, n)) if t == length_tag && n == value.len() => {}
                Some((t, _)) if t == length_tag => {
                    return Err("data value's size differs from its length field");
                }
                _ => return Err("data field must come right after its length field"),
            }
        } else if value.contains(&SOH) {
            return Err("value contains SOH (0x01)");
        }
        if is_length_tag(tag) {
            let n =
                parse_usize(value).ok_or("length field must be a byte count (1 to 9 digits)")?;
            self.pending = Some((tag, n));
        }
        Ok(())
    }
}

/// Checks a header value written by the encoder (BeginString, comp ids, MsgType,
/// SendingTime): not empty and free of SOH.
pub fn check_header_value(value: &[u8]) -> Result<(), &'static str> {
    if value.is_empty() {
        return Err("empty value");
    }
    if value.contains(&SOH) {
        return Err("value contains SOH (0x01)");
    }
    Ok(())
}

/// One field: tag and the value's byte range in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRef {
    pub tag: u32,
    pub start: u32,
    pub end: u32,
}

/// Length of the first complete message in `buf`, `Ok(None)` if more bytes are needed.
/// Only the header is validated here; `decode` checks the rest.
pub fn frame_length(buf: &[u8]) -> Result<Option<usize>, FixError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    if &buf[..2] != b"8=" {
        return err(0, "message must start with 8=");
    }
    let Some(soh) = buf.iter().position(|&b| b == SOH) else {
        return Ok(None);
    };
    let nine = soh + 1;
    if buf.len() < nine + 2 {
        return Ok(None);
    }
    if &buf[nine..nine + 2] != b"9=" {
        return err(nine, "second field must be BodyLength (9)");
    }
    let mut i = nine + 2;
    let mut len: usize = 0;
    let digits_start = i;
    while let Some(&c) = buf.get(i) {
        if c == SOH {
            break;
        }
        if !c.is_ascii_digit() || i - digits_start >= 7 {
            return err(i, "bad BodyLength");
        }
        len = len * 10 + usize::from(c - b'0');
        i += 1;
    }
    if i == buf.len() {
        return Ok(None);
    }
    if i == digits_start {
        return err(i, "empty BodyLength");
    }
    let total = i + 1 + len + 7;
    Ok(if buf.len() >= total {
        Some(total)
    } else {
        None
    })
}

/// Validates one whole message at the start of `buf` and indexes its fields (the
/// trailer's CheckSum excluded). Returns the fields and the message length.
pub fn decode(buf: &[u8], fields: &mut Vec<FieldRef>) -> Result<usize, FixError> {
    fields.clear();
    let total = match frame_length(buf)? {
        Some(t) => t,
        None => return err(buf.len(), "incomplete message"),
    };
    let trailer = total - 7;
    let mut i = 0;
    // The previous field, when it was a length field: (its tag, the count it gave).
    let mut pending: Option<(u32, usize)> = None;
    while i < trailer {
        let tag_start = i;
        let mut tag: u32 = 0;
        while let Some(&c) = buf[..trailer].get(i) {
            if c == b'=' {
                break;
            }
            if !c.is_ascii_digit() || i - tag_start >= 9 {
                return err(i, "bad tag");
            }
            tag = tag * 10 + u32::from(c - b'0');
            i += 1;
        }
        if i == tag_start || tag == 0 {
            return err(tag_start, "empty or zero tag");
        }
        if i == trailer {
            return err(tag_start, "tag runs into the trailer");
        }
        i += 1;
        let start = i;
        let length = pending.take();
        let end = if let Some(length_tag) = length_tag_of(tag) {
            // Data fields may hold SOH: their length comes from the field just before.
            match length {
                Some((t, n)) if t == length_tag => start + n,
                _ => return err(tag_start, "data field without its length"),
            }
        } else {
            match buf[start..trailer].iter().position(|&b| b == SOH) {
                Some(p) => start + p,
                None => return err(start, "field runs into the trailer"),
            }
        };
        if end >= trailer || buf[end] != SOH {
            return err(end.min(trailer), "field not terminated by SOH");
        }
        if end == start {
            return err(start, "empty value");
        }
        if is_length_tag(tag) {
            pending = Some((
                tag,
                parse_usize(&buf[start..end]).ok_or(FixError {
                    pos: start,
                    what: "bad data length",
                })?,
            ));
        }
        fields.push(FieldRef {
            tag,
            start: start as u32,
            end: end as u32,
        });
        i = end + 1;
    }
    if i != trailer {
        return err(trailer, "BodyLength does not end on a field boundary");
    }
    if fields.len() < 3 || fields[2].tag != 35 {
        return err(
            fields.get(2).map_or(trailer, |f| f.start as usize),
            "third field must be MsgType (35)",
        );
    }
    let t = &buf[trailer..total];
    if &t[..3] != b"10=" || t[6] != SOH || !t[3..6].iter().all(u8::is_ascii_digit) {
        return err(trailer, "bad CheckSum field");
    }
    let want = u32::from(t[3] - b'0') * 100 + u32::from(t[4] - b'0') * 10 + u32::from(t[5] - b'0');
    if want != u32::from(checksum(&buf[..trailer])) {
        return err(trailer + 3, "CheckSum mismatch");
    }
    Ok(total)
}

fn parse_usize(b: &[u8]) -> Option<usize> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    b.iter().try_fold(0usize, |v, &c| {
        c.is_ascii_digit().then(|| v * 10 + usize::from(c - b'0'))
    })
}

/// The instances of a repeating group whose count is in the first `count_tag` field;
/// each instance starts with `members[0]` and runs while tags are in `members`.
/// Returns (fields index range) per instance.
pub fn group(
    fields: &[FieldRef],
    buf: &[u8],
    count_tag: u32,
    members: &[u32],
) -> Result<Vec<std::ops::Range<usize>>, FixError> {
    let Some(ci) = fields.iter().position(|f| f.tag == count_tag) else {
        return Ok(Vec::new());
    };
    let cf = fields[ci];
    let count = parse_usize(&buf[cf.start as usize..cf.end as usize]).ok_or(FixError {
        pos: cf.start as usize,
        what: "bad group count",
    })?;
    let Some(&delim) = members.first() else {
        return err(cf.start as usize, "group needs member tags");
    };
    let mut out = Vec::with_capacity(count);
    let mut i = ci + 1;
    while i < fields.len() && fields[i].tag == delim {
        let start = i;
        i += 1;
        while i < fields.len() && fields[i].tag != delim && members.contains(&fields[i].tag) {
            i += 1;
        }
        out.push(start..i);
    }
    if out.len() != count {
        let at = fields.get(i).map_or(cf.end as usize, |f| f.start as usize);
        return err(at, "group instance count differs from its NumInGroup");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe(s: &str) -> Vec<u8> {
        s.replace('|', "\x01").into_bytes()
    }

    #[test]
    fn encodes_body_length_and_checksum() {
        let mut e = Encoder::new(b"FIX.4.4", b"CLIENT", b"DERIBITSERVER");
        e.begin(b"D", 2, b"20260101-00:00:00.000");
        e.field(11, b"ord-1");
        e.field(55, b"BTC-PERPETUAL");
        e.field(54, b"1");
        e.field(38, b"10");
        e.field(44, b"50000.5");
        e.field(40, b"2");
        let mut out = Vec::new();
        e.finish(&mut out);
        let text = String::from_utf8(out.clone()).unwrap().replace('\x01', "|");
        let body = "35=D|49=CLIENT|56=DERIBITSERVER|34=2|52=20260101-00:00:00.000|11=ord-1|55=BTC-PERPETUAL|54=1|38=10|44=50000.5|40=2|";
        assert!(text.starts_with(&format!("8=FIX.4.4|9={}|{body}10=", body.len())));
        let sum = out[..out.len() - 7]
            .iter()
            .map(|&b| u32::from(b))
            .sum::<u32>()
            % 256;
        assert!(text.ends_with(&format!("10={sum:03}|")));
        let mut fields = Vec::new();
        assert_eq!(decode(&out, &mut fields), Ok(out.len()));
        assert_eq!(
            fields
                .iter()
                .find(|f| f.tag == 44)
                .map(|f| &out[f.start as usize..f.end as usize]),
            Some(&b"50000.5"[..])
        );
    }

    #[test]
    fn decode_rejects_bad_checksum_and_length_with_offsets() {
        let mut e = Encoder::new(b"FIX.4.4", b"A", b"B");
        e.begin(b"0", 1, b"20260101-00:00:00.000");
        let mut good = Vec::new();
        e.finish(&mut good);
        let mut fields = Vec::new();
        let n = good.len();
        let mut bad = good.clone();
        bad[n - 2] = if bad[n - 2] == b'9' { b'0' } else { b'9' };
        assert_eq!(
            decode(&bad, &mut fields).unwrap_err().what,
            "CheckSum mismatch"
        );
        let mut bad = good.clone();
        bad[14] = b'x'; // inside a field value: the checksum no longer matches
        assert!(decode(&bad, &mut fields).is_err());
        let short = pipe("8=FIX.4.4|9=5|35=0|49=A|10=000|");
        assert!(decode(&short, &mut fields).is_err());
        assert_eq!(decode(b"9=FIX", &mut fields).unwrap_err().pos, 0);
        assert_eq!(
            decode(&good[..n - 1], &mut fields).unwrap_err().what,
            "incomplete message"
        );
        assert_eq!(frame_length(&good[..10]), Ok(None));
        assert_eq!(frame_length(&good), Ok(Some(n)));
    }

    #[test]
    fn raw_data_may_contain_soh() {
        let mut e = Encoder::new(b"FIX.4.4", b"A", b"B");
        e.begin(b"A", 1, b"20260101-00:00:00.000");
        e.field(95, b"5");
        e.field(96, b"a\x01b=c");
        e.field(108, b"30");
        let mut out = Vec::new();
        e.finish(&mut out);
        let mut fields = Vec::new();
        decode(&out, &mut fields).unwrap();
        let raw = fields.iter().find(|f| f.tag == 96).unwrap();
        assert_eq!(&out[raw.start as usize..raw.end as usize], b"a\x01b=c");
        assert_eq!(fields.last().unwrap().tag, 108);
    }

    #[test]
    fn every_length_and_data_pair_round_trips_with_soh_inside() {
        for &(length_tag, data_tag) in &DATA_FIELDS {
            let data = b"x\x01y=1\x01";
            let mut check = FieldCheck::default();
            let len = data.len().to_string();
            assert_eq!(check.field(length_tag, len.as_bytes()), Ok(()));
            assert_eq!(check.field(data_tag, data), Ok(()));
            let mut e = Encoder::new(b"FIX.4.4", b"A", b"B");
            e.begin(b"A", 1, b"20260101-00:00:00.000");
            e.field(length_tag, len.as_bytes());
            e.field(data_tag, data);
            e.field(58, b"after");
            let mut out = Vec::new();
            e.finish(&mut out);
            let mut fields = Vec::new();
            decode(&out, &mut fields).unwrap_or_else(|e| panic!("{data_tag}: {e}"));
            let got = fields.iter().find(|f| f.tag == data_tag).unwrap();
            assert_eq!(&out[got.start as usize..got.end as usize], data);
            assert_eq!(fields.last().unwrap().tag, 58);
        }
    }

    #[test]
    fn data_fields_need_their_own_length_right_before() {
        let mut check = FieldCheck::default();
        assert!(
            check.field(89, b"sig").is_err(),
            "Signature without SignatureLength"
        );
        let mut check = FieldCheck::default();
        check.field(95, b"3").unwrap();
        assert!(
            check.field(89, b"sig").is_err(),
            "a RawDataLength is not a SignatureLength"
        );
        let mut check = FieldCheck::default();
        check.field(93, b"4").unwrap();
        assert!(check.field(89, b"sig").is_err(), "size differs");
        let mut check = FieldCheck::default();
        check.field(93, b"3").unwrap();
        check.field(58, b"between").unwrap();
        assert!(check.field(89, b"sig").is_err(), "not right after");
        assert!(FieldCheck::default().field(93, b"-1").is_err());
        assert!(FieldCheck::default().field(58, b"a\x01b").is_err());
        assert!(FieldCheck::default().field(0, b"a").is_err());
        assert!(FieldCheck::default().field(MAX_TAG + 1, b"a").is_err());
        // The decoder agrees: a Signature after a RawDataLength has no length of its own.
        let mut e = Encoder::new(b"FIX.4.4", b"A", b"B");
        e.begin(b"0", 1, b"20260101-00:00:00.000");
        e.field(95, b"3");
        e.field(89, b"sig");
        let mut out = Vec::new();
        e.finish(&mut out);
        let err = decode(&out, &mut Vec::new()).unwrap_err();
        assert_eq!(err.what, "data field without its length");
    }

    /// Random field lists: whatever `FieldCheck` accepts, `decode` reads back exactly.
    #[test]
    fn property_encoder_output_always_decodes_to_the_same_fields() {
        let mut rng = crate::testrng::Rng::new(93);
        let plain = [11u32, 55, 58, 112, 148, 1, 999_999_999];
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut check = FieldCheck::default();
            let mut e = Encoder::new(b"FIX.4.4", b"S", b"T");
            e.begin(b"B", 3, b"20260101-00:00:00.000");
            let mut want: Vec<(u32, Vec<u8>)> = Vec::new();
            let mut ok = true;
            for _ in 0..1 + rng.below(6) {
                let value_of = |rng: &mut crate::testrng::Rng| -> Vec<u8> {
                    (0..rng.below(6))
                        .map(|_| b"a=1\x01 9"[rng.below(6) as usize])
                        .collect()
                };
                let mut fields = Vec::new();
                match rng.below(4) {
                    0 | 1 => {
                        let (lt, dt) = DATA_FIELDS[rng.below(16) as usize];
                        let data = value_of(&mut rng);
                        // Now and then a wrong length or a different pair's length.
                        let n = data.len() + usize::from(rng.below(8) == 0);
                        let lt = if rng.below(8) == 0 {
                            DATA_FIELDS[rng.below(16) as usize].0
                        } else {
                            lt
                        };
                        fields.push((lt, n.to_string().into_bytes()));
                        if rng.below(10) != 0 {
                            fields.push((dt, data));
                        }
                    }
                    2 => {
                        let (_, dt) = DATA_FIELDS[rng.below(16) as usize];
                        fields.push((dt, value_of(&mut rng)));
                    }
                    _ => {
                        let tag = plain[rng.below(plain.len() as u64) as usize];
                        fields.push((tag, value_of(&mut rng)));
                    }
                }
                for (tag, value) in fields {
                    if check.field(tag, &value).is_err() {
                        ok = false;
                        break;
                    }
                    e.field(tag, &value);
                    want.push((tag, value));
                }
                if !ok {
                    break;
                }
            }
            if !ok {
                continue;
            }
            accepted += 1;
            let mut out = Vec::new();
            e.finish(&mut out);
            let mut fields = Vec::new();
            let n = decode(&out, &mut fields)
                .unwrap_or_else(|err| panic!("{err} in {:?}", String::from_utf8_lossy(&out)));
            assert_eq!(n, out.len());
            let got: Vec<(u32, Vec<u8>)> = fields[7..]
                .iter()
                .map(|f| (f.tag, out[f.start as usize..f.end as usize].to_vec()))
                .collect();
            assert_eq!(got, want);
        }
        assert!(accepted > 2_000, "only {accepted} accepted");
    }

    #[test]
    fn repeating_groups_are_counted() {
        let mut e = Encoder::new(b"FIX.4.4", b"A", b"B");
        e.begin(b"y", 1, b"20260101-00:00:00.000");
        e.field(320, b"r1");
        e.field(146, b"2");
        e.field(55, b"BTC-PERPETUAL");
        e.field(167, b"FUT");
        e.field(55, b"ETH-PERPETUAL");
        e.field(167, b"FUT");
        e.field(58, b"after");
        let mut out = Vec::new();
        e.finish(&mut out);
        let mut fields = Vec::new();
        decode(&out, &mut fields).unwrap();
        let g = group(&fields, &out, 146, &[55, 167]).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[1].len(), 2);
        assert!(group(&fields, &out, 146, &[167]).is_err());
    }

    #[test]
    fn timestamps_are_civil_utc() {
        assert_eq!(&utc_timestamp(0), b"19700101-00:00:00.000");
        assert_eq!(&utc_timestamp(1_700_000_000_123), b"20231114-22:13:20.123");
        assert_eq!(&utc_timestamp(951_782_400_000), b"20000229-00:00:00.000");
    }
}
