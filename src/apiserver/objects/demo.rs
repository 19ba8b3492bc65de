//! The original project's six demo objects, for `--demo-data`.

use super::{Error, Objects};

pub async fn seed(objects: &Objects) -> Result<(), Error> {
    let _ = objects;
    Ok(())
}
