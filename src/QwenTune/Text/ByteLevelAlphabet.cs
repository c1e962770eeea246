namespace QwenTune.Text;

/// <summary>
/// GPT-2's byte-to-character table (<c>bytes_to_unicode</c> in openai/gpt-2 <c>encoder.py</c>, reused by the
/// Hugging Face ByteLevel pre-tokenizer and decoder): printable Latin-1 bytes stand for themselves and the other
/// 68 bytes take the characters U+0100..U+0143 in byte order. Byte-level vocabulary entries are written in
/// this alphabet, so a token's string length is its UTF-8 byte count.
/// </summary>
internal static class ByteLevelAlphabet
{
    /// <summary>Character to byte, or -1 for a character outside the alphabet. Indexed by char, length 0x144.</summary>
    private static readonly short[] CharToByte = BuildCharToByte();

    /// <summary>Byte to character, the inverse of <see cref="CharToByte"/>.</summary>
    private static readonly char[] ByteToChar = BuildByteToChar();

    /// <summary>The character standing for <paramref name="value"/> in byte-level tokens.</summary>
    public static char CharOfByte(byte value) => ByteToChar[value];

    /// <summary>
    /// The bytes a token stands for, as Hugging Face's ByteLevel decoder reads them: through the alphabet when every
    /// character belongs to it, otherwise the token's own UTF-8 (tokenizers <c>decoders/byte_level.rs</c>).
    /// </summary>
    public static void AppendBytes(string token, List<byte> destination)
    {
        if (TryAppendAlphabetBytes(token, destination))
            return;
        destination.AddRange(System.Text.Encoding.UTF8.GetBytes(token));
    }

    /// <summary>Number of bytes the token stands for (see <see cref="AppendBytes"/>).</summary>
    public static int ByteCount(string token)
    {
        foreach (var c in token)
        {
            if (c >= CharToByte.Length || CharToByte[c] < 0)
                return System.Text.Encoding.UTF8.GetByteCount(token);
        }
        return token.Length;
    }

    private static bool TryAppendAlphabetBytes(string token, List<byte> destination)
    {
        foreach (var c in token)
        {
            if (c >= CharToByte.Length || CharToByte[c] < 0)
                return false;
        }
        foreach (var c in token)
            destination.Add((byte)CharToByte[c]);
        return true;
    }

    private static short[] BuildCharToByte()
    {
        var table = new short[0x144];
        Array.Fill(table, (short)-1);
        var next = 0x100;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            table[printable ? b : next++] = (short)b;
        }
        return table;
    }

    private static char[] BuildByteToChar()
    {
        var table = new char[256];
        for (var c = 0; c < CharToByte.Length; c++)
        {
            if (CharToByte[c] >= 0)
                table[CharToByte[c]] = (char)c;
        }
        return table;
    }
}
