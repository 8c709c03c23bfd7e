//! Registration errors: invalid names, duplicates and clashing sample names, reserved labels,
//! invalid histogram bounds.

use kumo_metrics::Registry;

#[test]
fn bad_registrations_are_typed_errors() {
    use kumo_metrics::RegisterError;
    let r = Registry::new();
    r.family("x", "").counter::<()>().unwrap();
    assert!(matches!(
        r.family("x", "").gauge::<()>(),
        Err(RegisterError::Duplicate(_))
    ));
    assert!(matches!(
        r.family("1x", "").gauge::<()>(),
        Err(RegisterError::InvalidMetricName(_))
    ));
    kumo_metrics::label_set! { struct Le { le } }
    assert!(matches!(
        r.family("h", "").histogram::<Le<'static>>(&[1.0]),
        Err(RegisterError::InvalidLabelName(_))
    ));
    assert!(matches!(
        r.family("h", "").histogram::<()>(&[2.0, 1.0]),
        Err(RegisterError::InvalidBuckets)
    ));
    assert!(matches!(
        r.family("h", "").histogram::<()>(&[f64::NAN]),
        Err(RegisterError::InvalidBuckets)
    ));
}
