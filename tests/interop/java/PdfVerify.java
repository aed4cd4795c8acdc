// An independent check of baohan's signed PDFs with BouncyCastle, as a Java platform would do it.
// Usage: java PdfVerify FILE...   One line per file: "ok\t<signer subject>" or "fail\t<why>".
// The last /ByteRange gives the signed bytes and the hex /Contents between them; the CMS SignedData is
// verified over those bytes with the signer certificate it carries (SM3withSM2, user ID 1234567812345678).
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.Security;
import java.util.Collection;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cms.CMSProcessableByteArray;
import org.bouncycastle.cms.CMSSignedData;
import org.bouncycastle.cms.SignerInformation;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoVerifierBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.util.Store;
import org.bouncycastle.util.encoders.Hex;

public class PdfVerify {
    static final Pattern BYTE_RANGE =
        Pattern.compile("/ByteRange\\s*\\[\\s*(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)\\s*\\]");

    @SuppressWarnings("unchecked")
    static String verify(byte[] pdf) throws Exception {
        // ISO-8859-1 maps each byte to one char, so string offsets are file offsets.
        Matcher m = BYTE_RANGE.matcher(new String(pdf, StandardCharsets.ISO_8859_1));
        long[] r = null;
        while (m.find()) {
            r = new long[] {
                Long.parseLong(m.group(1)), Long.parseLong(m.group(2)),
                Long.parseLong(m.group(3)), Long.parseLong(m.group(4))
            };
        }
        if (r == null) {
            return "fail\tno /ByteRange";
        }
        if (r[0] != 0 || r[2] + r[3] != pdf.length || r[1] >= r[2]) {
            return "fail\tbyte range does not cover the whole file";
        }
        int first = (int) r[1], gap = (int) r[2], second = (int) r[3];
        byte[] signed = new byte[first + second];
        System.arraycopy(pdf, 0, signed, 0, first);
        System.arraycopy(pdf, gap, signed, first, second);
        if (pdf[first] != '<' || pdf[gap - 1] != '>') {
            return "fail\t/Contents is not a hex string";
        }
        byte[] der = Hex.decode(new String(pdf, first + 1, gap - first - 2, StandardCharsets.US_ASCII));

        CMSSignedData cms = new CMSSignedData(new CMSProcessableByteArray(signed), der);
        Store<X509CertificateHolder> certs = cms.getCertificates();
        Collection<SignerInformation> signers = cms.getSignerInfos().getSigners();
        if (signers.size() != 1) {
            return "fail\texpected one signer, found " + signers.size();
        }
        SignerInformation signer = signers.iterator().next();
        Collection<X509CertificateHolder> matches = certs.getMatches(signer.getSID());
        if (matches.isEmpty()) {
            return "fail\tsigner certificate not in the CMS";
        }
        X509CertificateHolder cert = matches.iterator().next();
        boolean ok = signer.verify(new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC").build(cert));
        return ok
            ? "ok\t" + cert.getSubject() + "\t" + signer.getDigestAlgOID() + "\t" + signer.getEncryptionAlgOID()
            : "fail\tsignature does not verify";
    }

    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        for (String path : args) {
            String line;
            try {
                line = verify(Files.readAllBytes(Paths.get(path)));
            } catch (Exception e) {
                line = "fail\t" + e.getClass().getSimpleName() + ": " + String.valueOf(e.getMessage()).replace('\n', ' ');
            }
            System.out.println(line);
        }
    }
}
