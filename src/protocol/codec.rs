//! The tokio-util `Decoder`/`Encoder` adapter: checks that a whole frame is present, then
//! hands it to [`frame::decode`]. Any error ends the stream of the connection it came from.

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::command::RemotingCommand;
use super::error::WireError;
use super::frame;

#[derive(Debug, Clone, Copy)]
pub struct RemotingCodec {
    max_frame: usize,
}

impl RemotingCodec {
    pub fn new(max_frame: usize) -> Self {
        Self { max_frame }
    }
}

impl Default for RemotingCodec {
    fn default() -> Self {
        Self::new(frame::DEFAULT_MAX_FRAME)
    }
}

impl Decoder for RemotingCodec {
    type Item = RemotingCommand;
    type Error = WireError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RemotingCommand>, WireError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let len = frame::checked_length([src[0], src[1], src[2], src[3]], self.max_frame)?;
        if src.len() < 4 + len {
            src.reserve(4 + len - src.len());
            return Ok(None);
        }
        src.advance(4);
        let body = src.split_to(len).freeze();
        frame::decode(body).map(Some)
    }
}

impl Encoder<RemotingCommand> for RemotingCodec {
    type Error = WireError;

    fn encode(&mut self, cmd: RemotingCommand, dst: &mut BytesMut) -> Result<(), WireError> {
        frame::encode(&cmd, dst);
        Ok(())
    }
}
