//! Image quality control for the mabtwin digital twin.
#![forbid(unsafe_code)]

#[cfg(test)]
mod tests {
    #[test]
    fn tch_smoke() {
        tch::set_num_threads(1);
        let t = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
        let s = f64::try_from(t.sum(tch::Kind::Float)).expect("scalar");
        assert_eq!(s, 6.0);
    }
}
