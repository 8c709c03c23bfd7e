//! Zone text (RFC 1035 master file syntax) split into zones, shared by the zone-text resolver
//! and the loopback server.

use crate::error::ZoneError;
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::txt::Parser;
use std::sync::Arc;

/// Negative TTL (SOA minimum) of a synthesized SOA.
pub(crate) const DEFAULT_NEGATIVE_TTL: u32 = 30;

/// One zone: its origin and every record under it (the SOA first).
#[derive(Debug, Clone)]
pub(crate) struct ParsedZone {
    pub(crate) origin: Name,
    pub(crate) records: Vec<Record>,
}

impl ParsedZone {
    /// The negative TTL the zone's SOA implies: min(SOA TTL, SOA minimum).
    pub(crate) fn negative_ttl(&self) -> u32 {
        self.records
            .iter()
            .find_map(|r| match &r.data {
                RData::SOA(soa) if r.name == self.origin => Some(soa.minimum.min(r.ttl)),
                _ => None,
            })
            .unwrap_or(DEFAULT_NEGATIVE_TTL)
    }
}

/// Parses zone text. Each SOA record starts a zone at its owner name; records belong to the
/// zone with the longest matching origin. Text without any SOA gets one synthesized at the
/// `$ORIGIN` (or at `default_origin`) with a 30 s negative TTL. `$TTL` defaults to 300.
pub(crate) fn parse(
    text: &str,
    default_origin: Option<&str>,
) -> Result<Vec<ParsedZone>, ZoneError> {
    let origin = match default_origin {
        Some(o) => Some(Name::from_utf8(o).map_err(|e| ZoneError::Parse(Arc::new(e)))?),
        None => None,
    };
    // hickory's parser would read the file an absolute `$INCLUDE` names, whatever it is.
    if text.contains("$INCLUDE") {
        return Err(ZoneError::Include);
    }
    let mut src = String::with_capacity(text.len() + 16);
    if !text.contains("$TTL") {
        src.push_str("$TTL 300\n");
    }
    src.push_str(text);
    let (parsed_origin, map) = Parser::new(src, None, origin)
        .parse()
        .map_err(|e| ZoneError::Parse(Arc::new(e)))?;
    let mut all: Vec<Record> = map
        .into_values()
        .flat_map(|set| set.records_without_rrsigs().cloned().collect::<Vec<_>>())
        .collect();
    let mut origins: Vec<Name> = all
        .iter()
        .filter(|r| r.record_type() == RecordType::SOA)
        .map(|r| r.name.to_lowercase())
        .collect();
    if origins.is_empty() {
        let o = parsed_origin.to_lowercase();
        if o.is_root() {
            return Err(ZoneError::NoOrigin);
        }
        let soa = SOA::new(
            Name::from_ascii("ns")
                .and_then(|n| n.append_domain(&o))
                .map_err(|e| ZoneError::Parse(Arc::new(e)))?,
            Name::from_ascii("hostmaster")
                .and_then(|n| n.append_domain(&o))
                .map_err(|e| ZoneError::Parse(Arc::new(e)))?,
            1,
            3600,
            600,
            86400,
            DEFAULT_NEGATIVE_TTL,
        );
        all.push(Record::from_rdata(o.clone(), 3600, RData::SOA(soa)));
        origins.push(o);
    }
    let mut zones: Vec<ParsedZone> = origins
        .into_iter()
        .map(|origin| ParsedZone {
            origin,
            records: Vec::new(),
        })
        .collect();
    // SOA records first so the zone is valid when loaded record by record.
    all.sort_by_key(|r| r.record_type() != RecordType::SOA);
    for r in all {
        let owner = r.name.to_lowercase();
        let best = zones
            .iter_mut()
            .filter(|z| z.origin.zone_of(&owner))
            .max_by_key(|z| z.origin.num_labels());
        match best {
            Some(z) => z.records.push(r),
            None => {
                return Err(ZoneError::OutsideZone {
                    name: owner.to_ascii(),
                });
            }
        }
    }
    Ok(zones)
}
