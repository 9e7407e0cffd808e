import { connectStreamTexml, emptyTexml, escapeXml, sayAndHangupTexml } from '../../src/channels/telnyx/texml';

describe('TeXML answers', () => {
  it('connects a bidirectional RTP stream in the chosen codec, with our parameters, then hangs up', () => {
    const xml = connectStreamTexml({
      streamUrl: 'wss://switchboard.example/telnyx/stream',
      codec: 'PCMA',
      parameters: { callId: 'c1', token: '123.abc' },
    });
    expect(xml).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>' +
        '<Stream url="wss://switchboard.example/telnyx/stream" track="inbound_track" codec="PCMA" bidirectionalMode="rtp" bidirectionalCodec="PCMA">' +
        '<Parameter name="callId" value="c1"/><Parameter name="token" value="123.abc"/></Stream>' +
        '</Connect><Hangup/></Response>',
    );
  });

  it('redirects to our stream-ended webhook after <Connect> when given one', () => {
    const xml = connectStreamTexml({
      streamUrl: 'wss://h/telnyx/stream',
      codec: 'PCMU',
      parameters: {},
      afterStreamUrl: 'https://h/telnyx/stream-ended?callId=c1&x=1',
    });
    expect(xml).toMatch(
      /<\/Connect><Redirect method="POST">https:\/\/h\/telnyx\/stream-ended\?callId=c1&amp;x=1<\/Redirect><\/Response>$/,
    );
  });

  it('escapes every attribute and text node', () => {
    expect(escapeXml(`a&b<c>d"e'f`)).toBe('a&amp;b&lt;c&gt;d&quot;e&apos;f');
    const xml = connectStreamTexml({ streamUrl: 'wss://h/x?a=1&b="2"', codec: 'PCMU', parameters: { 'k"<': `v'&` } });
    expect(xml).toContain('url="wss://h/x?a=1&amp;b=&quot;2&quot;"');
    expect(xml).toContain('<Parameter name="k&quot;&lt;" value="v&apos;&amp;"/>');
    expect(sayAndHangupTexml('Sorry <busy> & "closed"')).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Sorry &lt;busy&gt; &amp; &quot;closed&quot;</Say><Hangup/></Response>',
    );
    expect(emptyTexml()).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
  });
});
