// BouncyCastle as an interop peer for baohan's tests: one command per stdin line (tab-separated),
// one answer per stdout line: "ok\t<result>" or "err\t<message>". Compiled by the tests with javac -cp.
import java.io.BufferedReader;
import java.io.FileReader;
import java.io.FileWriter;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.Security;
import java.security.spec.ECGenParameterSpec;
import java.util.Date;

import org.bouncycastle.asn1.gm.GMNamedCurves;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x9.X9ECParameters;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.crypto.engines.SM2Engine;
import org.bouncycastle.crypto.params.ECDomainParameters;
import org.bouncycastle.crypto.params.ECPrivateKeyParameters;
import org.bouncycastle.crypto.params.ECPublicKeyParameters;
import org.bouncycastle.crypto.params.ParametersWithID;
import org.bouncycastle.crypto.params.ParametersWithRandom;
import org.bouncycastle.crypto.signers.SM2Signer;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.util.encoders.Hex;

public class GmPeer {
    static final X9ECParameters X9 = GMNamedCurves.getByName("sm2p256v1");
    static final ECDomainParameters DOMAIN = new ECDomainParameters(X9.getCurve(), X9.getG(), X9.getN(), X9.getH());
    static final SecureRandom RANDOM = new SecureRandom();

    static ECPublicKeyParameters pub(String hex) {
        return new ECPublicKeyParameters(X9.getCurve().decodePoint(Hex.decode(hex)), DOMAIN);
    }

    static ECPrivateKeyParameters priv(String hex) {
        return new ECPrivateKeyParameters(new BigInteger(hex, 16), DOMAIN);
    }

    static SM2Engine.Mode mode(String name) {
        return SM2Engine.Mode.valueOf(name.toUpperCase());
    }

    static String run(String[] a) throws Exception {
        switch (a[0]) {
            case "encrypt": { // mode pubhex msghex
                SM2Engine engine = new SM2Engine(mode(a[1]));
                engine.init(true, new ParametersWithRandom(pub(a[2]), RANDOM));
                byte[] msg = Hex.decode(a.length > 3 ? a[3] : "");
                return Hex.toHexString(engine.processBlock(msg, 0, msg.length));
            }
            case "decrypt": { // mode privhex cthex
                SM2Engine engine = new SM2Engine(mode(a[1]));
                engine.init(false, priv(a[2]));
                byte[] ct = Hex.decode(a[3]);
                return Hex.toHexString(engine.processBlock(ct, 0, ct.length));
            }
            case "sign": { // privhex uid msghex -> DER
                SM2Signer signer = new SM2Signer();
                signer.init(true, new ParametersWithID(new ParametersWithRandom(priv(a[1]), RANDOM),
                        a[2].getBytes(StandardCharsets.UTF_8)));
                byte[] msg = Hex.decode(a.length > 3 ? a[3] : "");
                signer.update(msg, 0, msg.length);
                return Hex.toHexString(signer.generateSignature());
            }
            case "verify": { // pubhex uid msghex sighex(DER)
                SM2Signer signer = new SM2Signer();
                signer.init(false, new ParametersWithID(pub(a[1]), a[2].getBytes(StandardCharsets.UTF_8)));
                byte[] msg = Hex.decode(a[3]);
                signer.update(msg, 0, msg.length);
                return Boolean.toString(signer.verifySignature(Hex.decode(a[4])));
            }
            case "verifycert": { // capem certpem
                X509CertificateHolder ca = (X509CertificateHolder) new PEMParser(new FileReader(a[1])).readObject();
                X509CertificateHolder cert = (X509CertificateHolder) new PEMParser(new FileReader(a[2])).readObject();
                boolean ok = cert.getIssuer().equals(ca.getSubject()) && cert.isSignatureValid(
                        new JcaContentVerifierProviderBuilder().setProvider("BC").build(ca));
                return Boolean.toString(ok);
            }
            case "makeca": { // outpem cn -> writes a self-signed SM2 CA, prints its serial (hex)
                KeyPairGenerator gen = KeyPairGenerator.getInstance("EC", "BC");
                gen.initialize(new ECGenParameterSpec("sm2p256v1"), RANDOM);
                KeyPair kp = gen.generateKeyPair();
                X500Name name = new X500Name("CN=" + a[2] + ",O=BouncyCastle peer,C=CN");
                BigInteger serial = new BigInteger(64, RANDOM).add(BigInteger.ONE);
                long now = System.currentTimeMillis();
                JcaX509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(name, serial,
                        new Date(now - 60_000L), new Date(now + 86_400_000L), name, kp.getPublic());
                b.addExtension(org.bouncycastle.asn1.x509.Extension.basicConstraints, true,
                        new org.bouncycastle.asn1.x509.BasicConstraints(true));
                X509CertificateHolder holder = b.build(
                        new JcaContentSignerBuilder("SM3WITHSM2").setProvider("BC").build(kp.getPrivate()));
                try (JcaPEMWriter w = new JcaPEMWriter(new FileWriter(a[1]))) {
                    w.writeObject(holder);
                }
                return serial.toString(16);
            }
            case "tenderfile": { // privhex keyfield ivfield inpath outpath -> md5 hex of the plain file
                // A Java platform's reading of baohanfilecompletenotice: key and iv are Base64 of SM2 C1C3C2
                // ciphertexts with 04; the file is SM4/CBC/PKCS7Padding over the whole of it.
                byte[] fileKey = sm2Open(a[1], a[2]);
                byte[] iv = sm2Open(a[1], a[3]);
                javax.crypto.Cipher cipher = javax.crypto.Cipher.getInstance("SM4/CBC/PKCS7Padding", "BC");
                cipher.init(javax.crypto.Cipher.DECRYPT_MODE, new javax.crypto.spec.SecretKeySpec(fileKey, "SM4"),
                        new javax.crypto.spec.IvParameterSpec(iv));
                return pipe(cipher, a[4], a[5], true);
            }
            case "sm4cbcfile": { // keyhex ivhex inpath outpath -> md5 hex of the plain file, encrypted into outpath
                javax.crypto.Cipher cipher = javax.crypto.Cipher.getInstance("SM4/CBC/PKCS7Padding", "BC");
                cipher.init(javax.crypto.Cipher.ENCRYPT_MODE, new javax.crypto.spec.SecretKeySpec(Hex.decode(a[1]), "SM4"),
                        new javax.crypto.spec.IvParameterSpec(Hex.decode(a[2])));
                return pipe(cipher, a[3], a[4], false);
            }
            default:
                throw new IllegalArgumentException("unknown command " + a[0]);
        }
    }

    static byte[] sm2Open(String privhex, String base64) throws Exception {
        SM2Engine engine = new SM2Engine(SM2Engine.Mode.C1C3C2);
        engine.init(false, priv(privhex));
        byte[] ct = java.util.Base64.getDecoder().decode(base64);
        return engine.processBlock(ct, 0, ct.length);
    }

    // Streams inpath through cipher into outpath; the MD5 of whichever side is plain.
    static String pipe(javax.crypto.Cipher cipher, String inpath, String outpath, boolean decrypting)
            throws Exception {
        java.security.MessageDigest md5 = java.security.MessageDigest.getInstance("MD5");
        try (java.io.InputStream in = new java.io.FileInputStream(inpath);
                java.io.OutputStream out = new java.io.FileOutputStream(outpath)) {
            byte[] buffer = new byte[1 << 16];
            int n;
            while ((n = in.read(buffer)) > 0) {
                if (!decrypting) md5.update(buffer, 0, n);
                byte[] part = cipher.update(buffer, 0, n);
                if (part != null) {
                    if (decrypting) md5.update(part);
                    out.write(part);
                }
            }
            byte[] last = cipher.doFinal();
            if (decrypting) md5.update(last);
            out.write(last);
        }
        return Hex.toHexString(md5.digest());
    }

    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(System.out, true, "UTF-8");
        String line;
        while ((line = in.readLine()) != null) {
            try {
                out.println("ok\t" + run(line.split("\t", -1)));
            } catch (Exception e) {
                out.println("err\t" + e.getClass().getSimpleName() + ": " + String.valueOf(e.getMessage()).replace('\n', ' '));
            }
        }
    }
}
