<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="fr">
  <context>
    <name>BaseAlgorithm</name>
    <message>
      <source>Building extractor</source>
      <translation>Extracteur de bâtiments</translation>
    </message>
    <message>
      <source>Extract buildings (U-Net)</source>
      <translation>Extraire les bâtiments (U-Net)</translation>
    </message>
    <message>
      <source>Extraction</source>
      <translation>Extraction</translation>
    </message>
    <message>
      <source>Extracts building footprints from an RGB aerial or satellite image with a U-Net. The image is read tile by tile at the model's ground resolution, overlapping tiles are blended without seams, and the stitched building mask is turned into clean polygons with a confidence (mean probability), max_probability, area_m2 and perimeter_m. Touching roofs are split where a blob holds several cores of high probability (advanced Split threshold; 0 keeps each connected blob whole).

Leave Model empty to use the default model shipped with the plugin. Resolution 0 processes the image at its native pixel size. Runs on the GPU when torch sees one (Device = auto).

Any raster layer QGIS shows works, also XYZ and WMS/WMTS basemaps: set Extent to the area to process (required for XYZ layers; at most 25 km² unless the advanced largest area is raised). Windows that fail to download are retried, then reported.

With a land cover model (several classes, e.g. models/landcover_dubai.safetensors) the Land cover output is a paletted raster holding each pixel's class value with the class names, Land cover polygons one polygon per class region with a class field (simplified with the same tolerance, smaller than the minimum area dropped), and the buildings are the pixels whose most likely class is building.</source>
      <translation>Extrait les emprises de bâtiments d'une image aérienne ou satellite RVB avec un U-Net. L'image est lue tuile par tuile à la résolution au sol du modèle, les tuiles qui se recouvrent sont fusionnées sans raccord visible, et le masque de bâtiments assemblé est converti en polygones propres avec une confiance (probabilité moyenne), max_probability, area_m2 et perimeter_m. Les toits qui se touchent sont séparés là où une tache contient plusieurs noyaux de forte probabilité (paramètre avancé Seuil de séparation ; 0 garde chaque tache connexe entière).

Laissez le fichier du modèle vide pour utiliser le modèle par défaut fourni avec l'extension. Une résolution de 0 traite l'image à sa taille de pixel native. S'exécute sur le GPU quand torch en détecte un (Processeur = auto).

Toute couche raster affichée par QGIS convient, y compris les fonds de carte XYZ et WMS/WMTS : définissez l'emprise de la zone à traiter (obligatoire pour les couches XYZ ; 25 km² au plus, sauf si le paramètre avancé Surface web maximale est augmenté). Les fenêtres dont le téléchargement échoue sont retentées, puis signalées.

Avec un modèle d'occupation du sol (plusieurs classes, p. ex. models/landcover_dubai.safetensors), la sortie Raster d'occupation du sol est un raster paletté qui contient la valeur de classe de chaque pixel avec les noms des classes, la sortie Polygones d'occupation du sol un polygone par zone de classe avec un champ de classe (simplifié avec la même tolérance, ceux plus petits que la surface minimale étant écartés), et les bâtiments sont les pixels dont la classe la plus probable est bâtiment.</translation>
    </message>
    <message>
      <source>Image</source>
      <translation>Image</translation>
    </message>
    <message>
      <source>An RGB aerial, drone or satellite image: any raster layer QGIS shows, also XYZ and WMS/WMTS basemaps (then set Extent).</source>
      <translation>Une image RVB aérienne, de drone ou satellitaire : toute couche raster affichée par QGIS, y compris les fonds de carte XYZ et WMS/WMTS (indiquez alors l'emprise).</translation>
    </message>
    <message>
      <source>Extent</source>
      <translation>Emprise</translation>
    </message>
    <message>
      <source>Area to process. Empty: the whole layer. Required for XYZ tile layers.</source>
      <translation>Zone à traiter. Vide : toute la couche. Obligatoire pour les couches de tuiles XYZ.</translation>
    </message>
    <message>
      <source>Only inside polygons</source>
      <translation>Dans les polygones</translation>
    </message>
    <message>
      <source>Polygons (any CRS) to limit the run to: tiles outside them are neither read nor computed and no building is found outside them. Use it for a town boundary or a mask of built-up land.</source>
      <translation>Polygones (tout SCR) qui limitent le traitement : les tuiles hors de ces polygones ne sont ni lues ni calculées, et aucun bâtiment n'est trouvé en dehors. Pour une limite communale ou un masque de zones bâties.</translation>
    </message>
    <message>
      <source>Bands</source>
      <translation>Bandes</translation>
    </message>
    <message>
      <source>Red, green and blue bands. Empty: found by colour interpretation, else the first three.</source>
      <translation>Bandes rouge, verte et bleue. Vide : trouvées d'après l'interprétation des couleurs, sinon les trois premières.</translation>
    </message>
    <message>
      <source>Model file</source>
      <translation>Fichier du modèle</translation>
    </message>
    <message>
      <source>A .safetensors model written by Train model. Empty: the model shipped with the plugin. With another model, values left at their defaults below follow that model's own values.</source>
      <translation>Un modèle .safetensors écrit par Entraîner un modèle. Vide : le modèle fourni avec l'extension. Avec un autre modèle, les valeurs laissées par défaut ci-dessous suivent celles de ce modèle.</translation>
    </message>
    <message>
      <source>Model files (*.onnx *.safetensors);;ONNX (*.onnx);;safetensors (*.safetensors)</source>
      <translation>Fichiers de modèle (*.onnx *.safetensors);;ONNX (*.onnx);;safetensors (*.safetensors)</translation>
    </message>
    <message>
      <source>Resolution (m/px)</source>
      <translation>Résolution (m/px)</translation>
    </message>
    <message>
      <source>Ground resolution the image is read at. The default is the model's; 0 reads the image at its native pixel size.</source>
      <translation>Résolution au sol à laquelle l'image est lue. Par défaut celle du modèle ; 0 lit l'image à sa taille de pixel d'origine.</translation>
    </message>
    <message>
      <source>Device</source>
      <translation>Processeur</translation>
    </message>
    <message>
      <source>auto: the GPU when there is one, else the CPU. Only the devices found on this machine are listed.</source>
      <translation>auto : le GPU s'il y en a un, sinon le CPU. Seuls les processeurs présents sur cet ordinateur sont proposés.</translation>
    </message>
    <message>
      <source>Batch size</source>
      <translation>Taille de lot</translation>
    </message>
    <message>
      <source>Tiles per forward pass. More can be faster on a GPU and needs more memory.</source>
      <translation>Tuiles par passe du modèle. Davantage peut être plus rapide sur GPU et demande plus de mémoire.</translation>
    </message>
    <message>
      <source>Inference backend</source>
      <translation>Moteur d'inférence</translation>
    </message>
    <message>
      <source>auto: onnxruntime when it is installed and the model is ONNX (or has an ONNX twin beside it), else torch. onnxruntime is several times faster on CPU; torch also runs .safetensors files; openvino (U-Net family, CPU) is about twice onnxruntime's speed on CPUs with native bf16, with slightly different outlines. The log says which backend and device ran, and why.</source>
      <translation>auto : onnxruntime s'il est installé et si le modèle est ONNX (ou a un jumeau ONNX à côté de lui), sinon torch. onnxruntime est plusieurs fois plus rapide sur CPU ; torch lit aussi les fichiers .safetensors ; openvino (famille U-Net, CPU) va environ deux fois plus vite qu'onnxruntime sur les CPU qui calculent nativement en bf16, avec des contours légèrement différents. Le journal indique quel moteur et quel périphérique ont servi, et pourquoi.</translation>
    </message>
    <message>
      <source>Tile size (px)</source>
      <translation>Taille de tuile (px)</translation>
    </message>
    <message>
      <source>Pixels per tile side; a multiple of the model's stride (32). The default is the model's.</source>
      <translation>Pixels par côté de tuile ; un multiple du pas du modèle (32). Par défaut celle du modèle.</translation>
    </message>
    <message>
      <source>Tile overlap (px)</source>
      <translation>Recouvrement (px)</translation>
    </message>
    <message>
      <source>Pixels shared by neighbouring tiles (below 1: a fraction of the tile). The default is the model's.</source>
      <translation>Pixels partagés par les tuiles voisines (sous 1 : une fraction de la tuile). Par défaut celui du modèle.</translation>
    </message>
    <message>
      <source>Test-time augmentation</source>
      <translation>Augmentation au test</translation>
    </message>
    <message>
      <source>Each tile also goes through the model flipped (4 passes) or flipped and turned by 90° (8 passes); the answers, turned back, are averaged. Slower by the number of passes.</source>
      <translation>Chaque tuile passe aussi dans le modèle retournée (4 passes) ou retournée et tournée de 90° (8 passes) ; les réponses, remises en place, sont moyennées. Plus lent d’autant de passes.</translation>
    </message>
    <message>
      <source>None</source>
      <translation>Aucune</translation>
    </message>
    <message>
      <source>Flips (4 passes)</source>
      <translation>Symétries (4 passages)</translation>
    </message>
    <message>
      <source>Flips and 90° rotations (8 passes)</source>
      <translation>Symétries et rotations de 90° (8 passages)</translation>
    </message>
    <message>
      <source>Normalize hazy imagery</source>
      <translation>Normaliser les images voilées</translation>
    </message>
    <message>
      <source>For hazy, faded or low-contrast images: one stretch of all bands (colours keep their balance) from the image's 2-98 % range to that of the shipped models' training imagery. Computed once from the whole image (its overviews when it has them).</source>
      <translation>Pour les images voilées (brume), délavées ou peu contrastées : un même étirement de toutes les bandes (les couleurs gardent leur équilibre) de la plage 2-98 % de l’image vers celle des images d’entraînement des modèles fournis. Calculé une fois sur toute l’image (sur ses aperçus quand elle en a).</translation>
    </message>
    <message>
      <source>Stretch to the training imagery's range (hazy or faded images)</source>
      <translation>Étirer à la plage de l'imagerie d'entraînement (images voilées ou ternes)</translation>
    </message>
    <message>
      <source>Building threshold</source>
      <translation>Seuil bâtiment</translation>
    </message>
    <message>
      <source>Pixels with a building probability above this are buildings. The default is the model's tuned value; lower it to find more buildings, raise it for fewer false ones.</source>
      <translation>Les pixels dont la probabilité de bâtiment dépasse ce seuil sont des bâtiments. Par défaut la valeur réglée du modèle ; baissez-le pour trouver plus de bâtiments, montez-le pour moins de faux.</translation>
    </message>
    <message>
      <source>Split threshold</source>
      <translation>Seuil de séparation</translation>
    </message>
    <message>
      <source>Touching buildings are split where a blob holds several cores above this probability. The default is the model's; 0 never splits.</source>
      <translation>Les bâtiments accolés sont séparés là où une tache contient plusieurs cœurs au-dessus de cette probabilité. Par défaut celui du modèle ; 0 ne sépare jamais.</translation>
    </message>
    <message>
      <source>Height model</source>
      <translation>Modèle de hauteur</translation>
    </message>
    <message>
      <source>Models with a height input only: the nDSM (height above ground, metres), or the DSM when a DTM is given. Any CRS and resolution: it is aligned on the processing grid on the fly.</source>
      <translation>Modèles avec une entrée de hauteur seulement : le MNS normalisé (hauteur au-dessus du sol, en mètres), ou le MNS quand un MNT est donné. Tout SCR et toute résolution : il est aligné à la volée sur la grille de traitement.</translation>
    </message>
    <message>
      <source>Terrain model (DTM)</source>
      <translation>Modèle de terrain (MNT)</translation>
    </message>
    <message>
      <source>With Height model as a DSM: the heights are DSM - DTM.</source>
      <translation>Avec un MNS comme modèle de hauteur : les hauteurs sont MNS - MNT.</translation>
    </message>
    <message>
      <source>Minimum area (m²)</source>
      <translation>Surface minimale (m²)</translation>
    </message>
    <message>
      <source>Smaller buildings are dropped.</source>
      <translation>Les bâtiments plus petits sont écartés.</translation>
    </message>
    <message>
      <source>Simplify (m)</source>
      <translation>Simplifier (m)</translation>
    </message>
    <message>
      <source>Outline simplification tolerance; 0 keeps every pixel step.</source>
      <translation>Tolérance de simplification des contours ; 0 garde chaque marche de pixel.</translation>
    </message>
    <message>
      <source>Fill holes below (m²)</source>
      <translation>Combler les trous sous (m²)</translation>
    </message>
    <message>
      <source>Holes smaller than this inside a building are filled.</source>
      <translation>Les trous plus petits à l'intérieur d'un bâtiment sont comblés.</translation>
    </message>
    <message>
      <source>Regularize</source>
      <translation>Régulariser</translation>
    </message>
    <message>
      <source>Straighten walls (LOD0 footprints). Scripts may also pass the option's name: none, right_angles, right_angles_diagonals, any_angle, circle.</source>
      <translation>Redresse les murs (emprises LOD0). Les scripts peuvent aussi passer le nom de l'option : none, right_angles, right_angles_diagonals, any_angle, circle.</translation>
    </message>
    <message>
      <source>None (the traced outline)</source>
      <translation>Aucune (le contour tracé)</translation>
    </message>
    <message>
      <source>Right angles</source>
      <translation>Angles droits</translation>
    </message>
    <message>
      <source>Right angles and 45° diagonals</source>
      <translation>Angles droits et diagonales à 45°</translation>
    </message>
    <message>
      <source>Any angle (straight edges)</source>
      <translation>Tout angle (côtés droits)</translation>
    </message>
    <message>
      <source>Circle</source>
      <translation>Cercle</translation>
    </message>
    <message>
      <source>Largest web area (km²)</source>
      <translation>Surface web maximale (km²)</translation>
    </message>
    <message>
      <source>Web and other non-file layers are refused above this area (downloads take long).</source>
      <translation>Les couches web et autres couches non fichier sont refusées au-delà de cette surface (les téléchargements sont longs).</translation>
    </message>
    <message>
      <source>Dask scheduler</source>
      <translation>Ordonnanceur Dask</translation>
    </message>
    <message>
      <source>Address of a Dask scheduler (tcp://host:8786) to run the job on its cluster, partition by partition; the workers must reach INPUT and have building_extractor installed. Empty: run in QGIS.</source>
      <translation>Adresse d'un ordonnanceur Dask (tcp://hôte:8786) pour exécuter le travail sur sa grappe, partition par partition ; les workers doivent accéder à INPUT et avoir building_extractor installé. Vide : exécution dans QGIS.</translation>
    </message>
    <message>
      <source>Buildings</source>
      <translation>Bâtiments</translation>
    </message>
    <message>
      <source>One polygon per building with its confidence, area and perimeter.</source>
      <translation>Un polygone par bâtiment avec sa confiance, sa surface et son périmètre.</translation>
    </message>
    <message>
      <source>Probability raster</source>
      <translation>Raster de probabilité</translation>
    </message>
    <message>
      <source>Optional GeoTIFF of the building probability (0-255) at the processing resolution.</source>
      <translation>GeoTIFF facultatif de la probabilité de bâtiment (0-255) à la résolution de traitement.</translation>
    </message>
    <message>
      <source>Land cover raster</source>
      <translation>Raster d'occupation du sol</translation>
    </message>
    <message>
      <source>Land cover models only: GeoTIFF of each pixel's class value, paletted with the class names.</source>
      <translation>Modèles d'occupation du sol seulement : GeoTIFF de la classe de chaque pixel, en palette avec les noms des classes.</translation>
    </message>
    <message>
      <source>Land cover polygons</source>
      <translation>Polygones d'occupation du sol</translation>
    </message>
    <message>
      <source>Land cover models only: one polygon per class region with a class field, simplified like the buildings.</source>
      <translation>Modèles d'occupation du sol seulement : un polygone par zone de classe avec un champ de classe, simplifié comme les bâtiments.</translation>
    </message>
    <message>
      <source>Extract buildings (Mask R-CNN)</source>
      <translation>Extraire les bâtiments (Mask R-CNN)</translation>
    </message>
    <message>
      <source>Extracts one polygon per building with Mask R-CNN, so that touching roofs stay separate buildings. Each polygon has confidence (detection score), mask_confidence (mean mask probability), area_m2 and perimeter_m.

Reads like Extract buildings (U-Net): at the model's resolution, tile by tile, any raster layer, masks and nodata respected. Tiles overlap; each building is reported once: a tile keeps the buildings centred in its own part, pieces cut by a tile edge are merged with the rest of the building, and duplicates (polygon IoU above NMS IoU, or over half inside a better one) are dropped; buildings never overlap (the better-scored one keeps the shared part). Leave Model empty for the default instance model shipped with the plugin. Lower the score threshold to find more buildings, raise it for fewer false ones.</source>
      <translation>Extrait un polygone par bâtiment avec Mask R-CNN, de sorte que les toits qui se touchent restent des bâtiments distincts. Chaque polygone a confidence (score de détection), mask_confidence (probabilité moyenne du masque), area_m2 et perimeter_m.

Lit l'image comme Extraire les bâtiments (U-Net) : à la résolution du modèle, tuile par tuile, toute couche raster, en respectant les masques et les valeurs nodata. Les tuiles se recouvrent ; chaque bâtiment n'est signalé qu'une fois : une tuile garde les bâtiments centrés dans sa propre partie, les morceaux coupés par un bord de tuile sont fusionnés avec le reste du bâtiment, et les doublons (IoU des polygones supérieure à l'IoU des doublons, ou plus de la moitié à l'intérieur d'un meilleur) sont écartés ; les bâtiments ne se chevauchent jamais (celui au meilleur score garde la partie commune). Laissez le fichier du modèle vide pour le modèle d'instances par défaut fourni avec l'extension. Abaissez le seuil de score pour trouver plus de bâtiments, augmentez-le pour moins de faux positifs.</translation>
    </message>
    <message>
      <source>Score threshold</source>
      <translation>Seuil de score</translation>
    </message>
    <message>
      <source>Detections scoring below this are dropped. The default is the model's tuned value; lower it to find more buildings, raise it for fewer false ones.</source>
      <translation>Les détections dont le score est inférieur sont écartées. Par défaut la valeur réglée du modèle ; baissez-le pour trouver plus de bâtiments, montez-le pour moins de faux.</translation>
    </message>
    <message>
      <source>Mask threshold</source>
      <translation>Seuil de masque</translation>
    </message>
    <message>
      <source>Mask probability above which a pixel belongs to the building. The default is the model's.</source>
      <translation>Probabilité de masque au-dessus de laquelle un pixel appartient au bâtiment. Par défaut celle du modèle.</translation>
    </message>
    <message>
      <source>Duplicate IoU</source>
      <translation>IoU des doublons</translation>
    </message>
    <message>
      <source>Of two buildings overlapping more than this (polygon IoU), the lower-scored one is dropped. The default is the model's.</source>
      <translation>De deux bâtiments qui se recouvrent davantage (IoU des polygones), celui au score le plus bas est écarté. Par défaut celle du modèle.</translation>
    </message>
    <message>
      <source>Train model</source>
      <translation>Entraîner un modèle</translation>
    </message>
    <message>
      <source>Training</source>
      <translation>Entraînement</translation>
    </message>
    <message>
      <source>Trains a building U-Net or Mask R-CNN (Architecture), or fine-tunes an existing model (Start from model), on your own rasters and building footprints (any CRS). Chips are read at the training resolution with footprints rasterized on the fly; outside the optional labelled area pixels are ignored. Validation uses the validation raster/footprints pair, else a fraction of each raster held out as spatial blocks. A U-Net file given to a Mask R-CNN run initialises its encoder.

The best epoch by validation IoU (Mask R-CNN: building F1) is kept, training stops early when it stops improving or when the time budget is used, and the threshold (Mask R-CNN: detection score) is tuned on validation. Writes a self-describing .safetensors model file for the matching Extract buildings algorithm and optionally an HTML report with loss and IoU curves. When cancelled, the best model so far is written if an epoch finished and Keep best is on.

Land cover: list the classes in Classes (value=name[:#colour], e.g. 1=building, 2=land, 3=road) and give a class raster per training raster (same order; its nodata is ignored), or one polygon layer per class. The model then has one output per class (cross-entropy + Dice, best epoch by validation mean IoU); its file lists the classes, values and colours, and Extract buildings (U-Net) writes its Land cover outputs.</source>
      <translation>Entraîne un U-Net ou un Mask R-CNN de bâtiments (Architecture), ou affine un modèle existant (Partir du modèle), sur vos propres rasters et emprises de bâtiments (tout SCR). Les imagettes sont lues à la résolution d'entraînement et les emprises rastérisées à la volée ; en dehors de la zone annotée facultative, les pixels sont ignorés. La validation utilise la paire raster/emprises de validation, sinon une fraction de chaque raster mise de côté par blocs spatiaux. Un fichier U-Net donné à un entraînement Mask R-CNN initialise son encodeur.

La meilleure époque selon l'IoU de validation (Mask R-CNN : F1 bâtiments) est conservée, l'entraînement s'arrête plus tôt quand elle ne s'améliore plus ou quand le temps imparti est écoulé, et le seuil (Mask R-CNN : score de détection) est ajusté sur la validation. Écrit un fichier de modèle .safetensors autodescriptif pour l'algorithme Extraire les bâtiments correspondant et, en option, un rapport HTML avec les courbes de perte et d'IoU. En cas d'annulation, le meilleur modèle obtenu est écrit si une époque s'est terminée et si l'option de conservation du meilleur modèle est cochée.

Occupation du sol : listez les classes dans Classes (valeur=nom[:#couleur], p. ex. 1=building, 2=land, 3=road) et donnez un raster de classes par raster d'entraînement (même ordre ; son nodata est ignoré), ou une couche de polygones par classe. Le modèle a alors une sortie par classe (entropie croisée + Dice, meilleure époque selon l'IoU moyenne de validation) ; son fichier liste les classes, leurs valeurs et leurs couleurs, et Extraire les bâtiments (U-Net) écrit ses sorties d'occupation du sol.</translation>
    </message>
    <message>
      <source>Training rasters (RGB)</source>
      <translation>Rasters d'entraînement (RVB)</translation>
    </message>
    <message>
      <source>Building footprints (any CRS; not for land cover)</source>
      <translation>Emprises de bâtiments (tout SCR ; pas pour l'occupation du sol)</translation>
    </message>
    <message>
      <source>Land cover classes: value=name[:#colour], comma-separated (empty: a building model)</source>
      <translation>Classes d'occupation du sol : valeur=nom[:#couleur], séparées par des virgules (vide : un modèle de bâtiments)</translation>
    </message>
    <message>
      <source>Land cover: class rasters, one per training raster in the same order (nodata ignored)</source>
      <translation>Occupation du sol : rasters de classes, un par raster d'entraînement dans le même ordre (nodata ignoré)</translation>
    </message>
    <message>
      <source>Land cover: polygon layers, one per class in the order of CLASSES (instead of class rasters)</source>
      <translation>Occupation du sol : couches de polygones, une par classe dans l'ordre de CLASSES (au lieu des rasters de classes)</translation>
    </message>
    <message>
      <source>Land cover from polygon layers: class value of pixels no polygon covers (empty: unknown, not trained on)</source>
      <translation>Occupation du sol à partir de couches de polygones : valeur de classe des pixels qu'aucun polygone ne couvre (vide : inconnue, non utilisée pour l'entraînement)</translation>
    </message>
    <message>
      <source>Labelled area (outside it pixels are ignored)</source>
      <translation>Zone annotée (en dehors, les pixels sont ignorés)</translation>
    </message>
    <message>
      <source>Validation raster</source>
      <translation>Raster de validation</translation>
    </message>
    <message>
      <source>Validation building footprints</source>
      <translation>Emprises de bâtiments de validation</translation>
    </message>
    <message>
      <source>Land cover: validation class raster</source>
      <translation>Occupation du sol : raster de classes de validation</translation>
    </message>
    <message>
      <source>Image bands, comma-separated (empty: red, green, blue; e.g. red, green, blue, nir for RGBN)</source>
      <translation>Bandes de l'image, séparées par des virgules (vide : red, green, blue ; p. ex. red, green, blue, nir pour du RVB-PIR)</translation>
    </message>
    <message>
      <source>Extra inputs: ndvi, shadow, height[:metres for full scale] (empty: none)</source>
      <translation>Entrées supplémentaires : ndvi, shadow, height[:mètres pour la pleine échelle] (vide : aucune)</translation>
    </message>
    <message>
      <source>Height models (nDSM), one per training raster in the same order</source>
      <translation>Modèles de hauteur (MNSn), un par raster d'entraînement dans le même ordre</translation>
    </message>
    <message>
      <source>Height model of the validation raster</source>
      <translation>Modèle de hauteur du raster de validation</translation>
    </message>
    <message>
      <source>Validation fraction held out by spatial blocks (without a validation raster)</source>
      <translation>Fraction de validation mise de côté par blocs spatiaux (sans raster de validation)</translation>
    </message>
    <message>
      <source>Architecture (ignored when fine-tuning)</source>
      <translation>Architecture (ignorée en cas d'affinage)</translation>
    </message>
    <message>
      <source>U-Net</source>
      <translation>U-Net</translation>
    </message>
    <message>
      <source>Mask R-CNN (one polygon per building)</source>
      <translation>Mask R-CNN (un polygone par bâtiment)</translation>
    </message>
    <message>
      <source>UNet++</source>
      <translation>UNet++</translation>
    </message>
    <message>
      <source>LinkNet</source>
      <translation>LinkNet</translation>
    </message>
    <message>
      <source>P-LinkNet (LinkNet + pyramid pooling)</source>
      <translation>P-LinkNet (LinkNet + pooling pyramidal)</translation>
    </message>
    <message>
      <source>DeepLabV3+</source>
      <translation>DeepLabV3+</translation>
    </message>
    <message>
      <source>FPN</source>
      <translation>FPN</translation>
    </message>
    <message>
      <source>Encoder (ignored when fine-tuning)</source>
      <translation>Encodeur (ignoré en cas d'affinage)</translation>
    </message>
    <message>
      <source>EfficientNet-Lite0 (ImageNet)</source>
      <translation>EfficientNet-Lite0 (ImageNet)</translation>
    </message>
    <message>
      <source>ResNet-18 (from scratch)</source>
      <translation>ResNet-18 (sans pré-entraînement)</translation>
    </message>
    <message>
      <source>ResNet-34 (from scratch)</source>
      <translation>ResNet-34 (sans pré-entraînement)</translation>
    </message>
    <message>
      <source>ResNet-50 (from scratch)</source>
      <translation>ResNet-50 (sans pré-entraînement)</translation>
    </message>
    <message>
      <source>MobileNetV3-Large (from scratch)</source>
      <translation>MobileNetV3-Large (sans pré-entraînement)</translation>
    </message>
    <message>
      <source>EfficientNet-Lite1 (ImageNet)</source>
      <translation>EfficientNet-Lite1 (ImageNet)</translation>
    </message>
    <message>
      <source>EfficientNet-Lite2 (ImageNet)</source>
      <translation>EfficientNet-Lite2 (ImageNet)</translation>
    </message>
    <message>
      <source>Start from model (fine-tune)</source>
      <translation>Partir du modèle (affinage)</translation>
    </message>
    <message>
      <source>Training resolution (m per pixel)</source>
      <translation>Résolution d'entraînement (m par pixel)</translation>
    </message>
    <message>
      <source>Epochs</source>
      <translation>Époques</translation>
    </message>
    <message>
      <source>Time budget in minutes (0 = none)</source>
      <translation>Temps imparti en minutes (0 = illimité)</translation>
    </message>
    <message>
      <source>Steps (batches) per epoch</source>
      <translation>Pas (lots) par époque</translation>
    </message>
    <message>
      <source>Batch size (chips per step; empty: 8, or 4 for Mask R-CNN)</source>
      <translation>Taille de lot (imagettes par pas ; vide : 8, ou 4 pour Mask R-CNN)</translation>
    </message>
    <message>
      <source>Learning rate (peak; empty: 0.002, or 0.0005 for Mask R-CNN)</source>
      <translation>Taux d'apprentissage (maximal ; vide : 0.002, ou 0.0005 pour Mask R-CNN)</translation>
    </message>
    <message>
      <source>Chip size (pixels, multiple of 32)</source>
      <translation>Taille des imagettes (pixels, multiple de 32)</translation>
    </message>
    <message>
      <source>Loss (all but Mask R-CNN)</source>
      <translation>Fonction de perte (sauf Mask R-CNN)</translation>
    </message>
    <message>
      <source>BCE + Dice</source>
      <translation>BCE + Dice</translation>
    </message>
    <message>
      <source>BCE + Lovász hinge</source>
      <translation>BCE + Lovász hinge</translation>
    </message>
    <message>
      <source>Focal</source>
      <translation>Focale</translation>
    </message>
    <message>
      <source>IoU (Jaccard)</source>
      <translation>IoU (Jaccard)</translation>
    </message>
    <message>
      <source>Lovász hinge</source>
      <translation>Lovász hinge</translation>
    </message>
    <message>
      <source>Tversky (alpha 0.3, beta 0.7)</source>
      <translation>Tversky (alpha 0,3, bêta 0,7)</translation>
    </message>
    <message>
      <source>Weighted cross entropy</source>
      <translation>Entropie croisée pondérée</translation>
    </message>
    <message>
      <source>When cancelled, keep the best model so far</source>
      <translation>En cas d'annulation, garder le meilleur modèle obtenu</translation>
    </message>
    <message>
      <source>Output model</source>
      <translation>Modèle en sortie</translation>
    </message>
    <message>
      <source>Model files (*.safetensors)</source>
      <translation>Fichiers de modèle (*.safetensors)</translation>
    </message>
    <message>
      <source>Training report</source>
      <translation>Rapport d'entraînement</translation>
    </message>
    <message>
      <source>HTML files (*.html)</source>
      <translation>Fichiers HTML (*.html)</translation>
    </message>
    <message>
      <source>ONNX model (beside the output model)</source>
      <translation>Modèle ONNX (à côté du modèle en sortie)</translation>
    </message>
    <message>
      <source>Validation IoU (tuned threshold)</source>
      <translation>IoU de validation (seuil ajusté)</translation>
    </message>
    <message>
      <source>Validation building F1</source>
      <translation>F1 bâtiments de validation</translation>
    </message>
    <message>
      <source>Land cover: validation overall accuracy</source>
      <translation>Occupation du sol : exactitude globale de validation</translation>
    </message>
    <message>
      <source>Export model to ONNX</source>
      <translation>Exporter le modèle en ONNX</translation>
    </message>
    <message>
      <source>Converts a .safetensors model file (written by Train model) into a self-describing ONNX file that onnxruntime runs without torch: the fast default backend of both Extract buildings algorithms. The model's description (architecture, bands, normalisation, resolution, tile size, thresholds, classes, provenance and metrics) is stored in the ONNX file's metadata, with the keys Deepness reads for U-Nets. Weights are stored as float16 by default (as in the safetensors file: nothing is lost) and computed in float32. Needs torch and onnx; Train model writes the ONNX file itself when onnx is installed.</source>
      <translation>Convertit un fichier de modèle .safetensors (écrit par Entraîner un modèle) en un fichier ONNX autodescriptif qu'onnxruntime exécute sans torch : le moteur rapide par défaut des deux algorithmes Extraire les bâtiments. La description du modèle (architecture, bandes, normalisation, résolution, taille de tuile, seuils, classes, provenance et métriques) est enregistrée dans les métadonnées du fichier ONNX, avec les clés que Deepness lit pour les U-Net. Les poids sont stockés en float16 par défaut (comme dans le fichier safetensors : rien n'est perdu) et calculés en float32. Nécessite torch et onnx ; Entraîner un modèle écrit lui-même le fichier ONNX quand onnx est installé.</translation>
    </message>
    <message>
      <source>Model file (.safetensors, written by Train model)</source>
      <translation>Fichier du modèle (.safetensors, écrit par Entraîner un modèle)</translation>
    </message>
    <message>
      <source>Store the weights as float16 (half the size; computed in float32)</source>
      <translation>Stocker les poids en float16 (deux fois plus petit ; calculé en float32)</translation>
    </message>
    <message>
      <source>ONNX model</source>
      <translation>Modèle ONNX</translation>
    </message>
    <message>
      <source>ONNX model files (*.onnx)</source>
      <translation>Fichiers de modèle ONNX (*.onnx)</translation>
    </message>
    <message>
      <source>Evaluate buildings</source>
      <translation>Évaluer les bâtiments</translation>
    </message>
    <message>
      <source>Evaluation</source>
      <translation>Évaluation</translation>
    </message>
    <message>
      <source>Compares predicted building polygons with reference footprints, in metres whatever the layers' CRSs.

Pixel metrics (accuracy, IoU, precision, recall, F1) rasterize both layers at Pixel size over the evaluation area: the Area polygons, else the Extent, else both layers' extent. Building metrics (precision, recall, F1) match buildings one to one by descending IoU and count a match at IoU &gt;= 0.5 (SpaceNet rule), or at each of the IoU thresholds given. Buildings crossing the area's border are scored on their part inside.

Writes a layer of predicted and reference buildings marked TP, FP or FN (with the IoU and matched id), and optionally the metrics as JSON and an HTML report.</source>
      <translation>Compare des polygones de bâtiments prédits à des emprises de référence, en mètres quels que soient les SCR des couches.

Les métriques par pixel (exactitude, IoU, précision, rappel, F1) rastérisent les deux couches à la taille de pixel choisie sur la zone d'évaluation : les polygones de la zone, sinon l'emprise, sinon l'emprise des deux couches. Les métriques par bâtiment (précision, rappel, F1) apparient les bâtiments un à un par IoU décroissante et comptent une correspondance à partir d'une IoU &gt;= 0.5 (règle SpaceNet), ou à chacun des seuils d'IoU donnés. Les bâtiments qui traversent la limite de la zone sont évalués sur leur partie intérieure.

Écrit une couche des bâtiments prédits et de référence marqués TP, FP ou FN (avec l'IoU et l'identifiant apparié) et, en option, les métriques en JSON et un rapport HTML.</translation>
    </message>
    <message>
      <source>Predicted buildings</source>
      <translation>Bâtiments prédits</translation>
    </message>
    <message>
      <source>Reference buildings (ground truth)</source>
      <translation>Bâtiments de référence (vérité terrain)</translation>
    </message>
    <message>
      <source>Evaluation area (optional polygons)</source>
      <translation>Zone d'évaluation (polygones facultatifs)</translation>
    </message>
    <message>
      <source>Evaluation extent (used when no area layer is given)</source>
      <translation>Emprise d'évaluation (utilisée quand aucune couche de zone n'est donnée)</translation>
    </message>
    <message>
      <source>Pixel size for pixel metrics (m)</source>
      <translation>Taille de pixel des métriques par pixel (m)</translation>
    </message>
    <message>
      <source>IoU thresholds for building matching (comma separated; the first sets each building's status)</source>
      <translation>Seuils d'IoU pour l'appariement des bâtiments (séparés par des virgules ; le premier détermine le statut de chaque bâtiment)</translation>
    </message>
    <message>
      <source>Buildings marked TP / FP / FN</source>
      <translation>Bâtiments marqués TP / FP / FN</translation>
    </message>
    <message>
      <source>Metrics (JSON)</source>
      <translation>Métriques (JSON)</translation>
    </message>
    <message>
      <source>JSON files (*.json)</source>
      <translation>Fichiers JSON (*.json)</translation>
    </message>
    <message>
      <source>Report (HTML)</source>
      <translation>Rapport (HTML)</translation>
    </message>
    <message>
      <source>Pixel accuracy</source>
      <translation>Exactitude par pixel</translation>
    </message>
    <message>
      <source>Pixel IoU</source>
      <translation>IoU par pixel</translation>
    </message>
    <message>
      <source>Pixel precision</source>
      <translation>Précision par pixel</translation>
    </message>
    <message>
      <source>Pixel recall</source>
      <translation>Rappel par pixel</translation>
    </message>
    <message>
      <source>Pixel F1</source>
      <translation>F1 par pixel</translation>
    </message>
    <message>
      <source>Building precision</source>
      <translation>Précision par bâtiment</translation>
    </message>
    <message>
      <source>Building recall</source>
      <translation>Rappel par bâtiment</translation>
    </message>
    <message>
      <source>Building F1</source>
      <translation>F1 par bâtiment</translation>
    </message>
    <message>
      <source>Matched buildings (TP)</source>
      <translation>Bâtiments appariés (TP)</translation>
    </message>
    <message>
      <source>Unmatched predicted buildings (FP)</source>
      <translation>Bâtiments prédits non appariés (FP)</translation>
    </message>
    <message>
      <source>Missed reference buildings (FN)</source>
      <translation>Bâtiments de référence manqués (FN)</translation>
    </message>
    <message>
      <source>Evaluate land cover</source>
      <translation>Évaluer l'occupation du sol</translation>
    </message>
    <message>
      <source>Scores a classified raster (Extract buildings' Land cover output) against a reference class raster: per-class IoU, precision, recall and F1, mean IoU, overall accuracy and the confusion matrix (rows: reference, columns: predicted). The classified raster is aligned on the reference's grid (nearest neighbour, any CRS); reference nodata and values that are no class are not scored. The classes come from the classified raster itself, or from the model file given.

Writes the scores as JSON and an HTML report; mean IoU, overall accuracy and mean F1 are also output values (for models and batch runs).</source>
      <translation>Évalue un raster classifié (la sortie Raster d'occupation du sol d'Extraire les bâtiments) par rapport à un raster de classes de référence : IoU, précision, rappel et F1 par classe, IoU moyenne, exactitude globale et matrice de confusion (lignes : référence, colonnes : prédiction). Le raster classifié est aligné sur la grille de la référence (plus proche voisin, tout SCR) ; le nodata de la référence et les valeurs qui ne sont pas une classe ne sont pas évalués. Les classes proviennent du raster classifié lui-même, ou du fichier de modèle donné.

Écrit les scores en JSON et un rapport HTML ; l'IoU moyenne, l'exactitude globale et le F1 moyen sont aussi des valeurs de sortie (pour les modèles de traitement et les traitements par lot).</translation>
    </message>
    <message>
      <source>Classified raster (OUTPUT_LANDCOVER of Extract buildings)</source>
      <translation>Raster classifié (OUTPUT_LANDCOVER d'Extraire les bâtiments)</translation>
    </message>
    <message>
      <source>Reference class raster (class values; nodata not scored)</source>
      <translation>Raster de classes de référence (valeurs de classe ; nodata non évalué)</translation>
    </message>
    <message>
      <source>Model file naming the classes (empty: the classes stored in the classified raster)</source>
      <translation>Fichier de modèle nommant les classes (vide : les classes enregistrées dans le raster classifié)</translation>
    </message>
    <message>
      <source>Scores (JSON)</source>
      <translation>Scores (JSON)</translation>
    </message>
    <message>
      <source>Mean IoU</source>
      <translation>IoU moyenne</translation>
    </message>
    <message>
      <source>Overall accuracy</source>
      <translation>Exactitude globale</translation>
    </message>
    <message>
      <source>Mean F1</source>
      <translation>F1 moyen</translation>
    </message>
    <message>
      <source>Regularize building footprints</source>
      <translation>Régulariser les emprises de bâtiments</translation>
    </message>
    <message>
      <source>Post-processing</source>
      <translation>Post-traitement</translation>
    </message>
    <message>
      <source>Turns wobbly building outlines (model output, digitising) into map-ready footprints (LOD0) with straight walls: right angles, right angles and 45° diagonals, any angle, or circles (a circle is chosen automatically where it fits better). Each building gets its dominant orientation from its own edges; tolerance is in metres (geographic layers are processed in their UTM zone); courtyards larger than the hole threshold are kept.

Never worse than the input: a regularized shape is kept only when its IoU with the input polygon is at least the threshold (default 0.8), otherwise the simplified input is written; the fields regularized (1/0), reg_method and reg_iou say which. Outputs are valid and neighbouring buildings never overlap (larger buildings are placed first).</source>
      <translation>Transforme des contours de bâtiments irréguliers (sortie de modèle, numérisation) en emprises prêtes pour la carte (LOD0) aux murs droits : angles droits, angles droits et diagonales à 45°, angle quelconque, ou cercles (un cercle est choisi automatiquement là où il s'ajuste mieux). Chaque bâtiment reçoit son orientation dominante à partir de ses propres arêtes ; la tolérance est en mètres (les couches géographiques sont traitées dans leur zone UTM) ; les cours intérieures plus grandes que le seuil des trous sont conservées.

Jamais pire que l'entrée : une forme régularisée n'est conservée que si son IoU avec le polygone d'entrée atteint au moins le seuil (0.8 par défaut), sinon l'entrée simplifiée est écrite ; les champs regularized (1/0), reg_method et reg_iou indiquent lequel. Les sorties sont valides et les bâtiments voisins ne se chevauchent jamais (les plus grands bâtiments sont placés en premier).</translation>
    </message>
    <message>
      <source>Building footprints</source>
      <translation>Emprises de bâtiments</translation>
    </message>
    <message>
      <source>Regularization</source>
      <translation>Régularisation</translation>
    </message>
    <message>
      <source>Tolerance (metres)</source>
      <translation>Tolérance (mètres)</translation>
    </message>
    <message>
      <source>Keep a regularized shape only if its IoU with the input is at least</source>
      <translation>Ne garder une forme régularisée que si son IoU avec l'entrée atteint au moins</translation>
    </message>
    <message>
      <source>Keep holes (courtyards) larger than (square metres)</source>
      <translation>Garder les trous (cours intérieures) plus grands que (mètres carrés)</translation>
    </message>
    <message>
      <source>Use a circle where a circle fits better</source>
      <translation>Utiliser un cercle là où un cercle s'ajuste mieux</translation>
    </message>
    <message>
      <source>Prevent overlaps between neighbouring buildings</source>
      <translation>Empêcher les chevauchements entre bâtiments voisins</translation>
    </message>
    <message>
      <source>Regularized buildings</source>
      <translation>Bâtiments régularisés</translation>
    </message>
    <message>
      <source>Building heights (LOD1)</source>
      <translation>Hauteurs des bâtiments (LOD1)</translation>
    </message>
    <message>
      <source>Adds height statistics to building footprints from a height model: height_min, height_max, height_mean, height_median, height_p90 and pixel_count of the pixels whose centre lies inside each footprint (optionally shrunk by an inward buffer to skip wall edges). Give a normalized height model (nDSM), or a DSM plus a DTM (height = DSM - DTM; the field ground holds the terrain height). The raster is read building by building, so large rasters are fine; nodata and buildings partly outside the raster are handled (no valid pixel: empty statistics).

Optional outputs: LOD1 blocks as a MultiPolygonZ layer (floor, walls and flat roof at the chosen roof statistic) for QGIS's 3D view, and a CityJSON LOD1 file for digital-twin tools.</source>
      <translation>Ajoute des statistiques de hauteur aux emprises de bâtiments à partir d'un modèle de hauteur : height_min, height_max, height_mean, height_median, height_p90 et pixel_count des pixels dont le centre se trouve dans chaque emprise (éventuellement réduite par un tampon intérieur pour éviter les bords des murs). Donnez un modèle de hauteur normalisé (MNSn), ou un MNS avec un MNT (hauteur = MNS - MNT ; le champ ground contient l'altitude du terrain). Le raster est lu bâtiment par bâtiment, les grands rasters ne posent donc pas de problème ; le nodata et les bâtiments en partie hors du raster sont gérés (aucun pixel valide : statistiques vides).

Sorties facultatives : blocs LOD1 en couche MultiPolygonZ (sol, murs et toit plat à la statistique de toit choisie) pour la vue 3D de QGIS, et un fichier CityJSON LOD1 pour les outils de jumeau numérique.</translation>
    </message>
    <message>
      <source>Height model (nDSM, or a DSM when a DTM is given)</source>
      <translation>Modèle de hauteur (MNSn, ou un MNS quand un MNT est donné)</translation>
    </message>
    <message>
      <source>Band</source>
      <translation>Bande</translation>
    </message>
    <message>
      <source>Terrain model (DTM; height = DSM - DTM)</source>
      <translation>Modèle de terrain (MNT ; hauteur = MNS - MNT)</translation>
    </message>
    <message>
      <source>Inward buffer to skip wall edges (metres)</source>
      <translation>Tampon intérieur pour éviter les bords des murs (mètres)</translation>
    </message>
    <message>
      <source>Roof height of the LOD1 blocks</source>
      <translation>Hauteur de toit des blocs LOD1</translation>
    </message>
    <message>
      <source>Median (height_median)</source>
      <translation>Médiane (height_median)</translation>
    </message>
    <message>
      <source>Mean (height_mean)</source>
      <translation>Moyenne (height_mean)</translation>
    </message>
    <message>
      <source>90th percentile (height_p90)</source>
      <translation>90e centile (height_p90)</translation>
    </message>
    <message>
      <source>Maximum (height_max)</source>
      <translation>Maximum (height_max)</translation>
    </message>
    <message>
      <source>Buildings with heights</source>
      <translation>Bâtiments avec hauteurs</translation>
    </message>
    <message>
      <source>LOD1 blocks (3D, MultiPolygonZ)</source>
      <translation>Blocs LOD1 (3D, MultiPolygonZ)</translation>
    </message>
    <message>
      <source>CityJSON LOD1 file</source>
      <translation>Fichier CityJSON LOD1</translation>
    </message>
    <message>
      <source>CityJSON (*.city.json *.json)</source>
      <translation>CityJSON (*.city.json *.json)</translation>
    </message>
    <message>
      <source>Install dependencies</source>
      <translation>Installer les dépendances</translation>
    </message>
    <message>
      <source>Setup</source>
      <translation>Installation</translation>
    </message>
    <message>
      <source>Installs what the extraction algorithms need (onnxruntime and a few small packages, pinned versions) into a folder of the plugin's own in your QGIS profile, with QGIS's own Python and pip: no administrator rights, nothing of QGIS replaced (never numpy or GDAL). Works where the system refuses pip installs (Debian 12, Ubuntu 23.04+). Restart QGIS afterwards if an algorithm still reports the packages missing.

Offline: download the wheel files on another computer (pip download --only-binary=:all: --no-deps onnxruntime==1.31.1 affine==2.4.0, for the target's Python version and system) and give their folder as Folder of wheel files. Training set: also installs torch and the training packages (several GB; on Linux PyPI's torch is the CUDA build, see the help page for CPU-only builds). Uninstall removes the folder again.</source>
      <translation>Installe ce dont les algorithmes d'extraction ont besoin (onnxruntime et quelques petits paquets, en versions fixées) dans un dossier propre à l'extension dans votre profil QGIS, avec le Python et le pip de QGIS : sans droits d'administrateur, sans rien remplacer de QGIS (jamais numpy ni GDAL). Fonctionne là où le système refuse les installations pip (Debian 12, Ubuntu 23.04+). Redémarrez QGIS ensuite si un algorithme signale encore des paquets manquants.

Hors ligne : téléchargez les fichiers wheel sur un autre ordinateur (pip download --only-binary=:all: --no-deps onnxruntime==1.31.1 affine==2.4.0, pour la version de Python et le système de la cible) et indiquez leur dossier comme dossier des fichiers wheel. Ensemble d'entraînement : installe aussi torch et les paquets d'entraînement (plusieurs Go ; sous Linux, le torch de PyPI est la version CUDA, voir la page d'aide pour les versions CPU seul). La désinstallation supprime à nouveau le dossier.</translation>
    </message>
    <message>
      <source>Folder of wheel files, for computers without internet (empty: download from PyPI)</source>
      <translation>Dossier des fichiers wheel, pour les ordinateurs sans internet (vide : téléchargement depuis PyPI)</translation>
    </message>
    <message>
      <source>All files (*.*)</source>
      <translation>Tous les fichiers (*.*)</translation>
    </message>
    <message>
      <source>Also install the training set (torch, several GB; see the help)</source>
      <translation>Installer aussi l'ensemble d'entraînement (torch, plusieurs Go ; voir l'aide)</translation>
    </message>
    <message>
      <source>Also install OpenVINO (optional faster U-Net backend; 33-85 MB download)</source>
      <translation>Installer aussi OpenVINO (moteur U-Net plus rapide, facultatif ; téléchargement de 33 à 85 Mo)</translation>
    </message>
    <message>
      <source>BACKEND=openvino: about twice onnxruntime's speed for the U-Net on CPUs that compute bf16 natively (recent AMD Ryzen/EPYC, Intel Xeon), with outlines within masks IoU 0.99 of onnxruntime's; not used for Mask R-CNN.</source>
      <translation>BACKEND=openvino : environ deux fois la vitesse d'onnxruntime pour le U-Net sur les CPU qui calculent nativement en bf16 (AMD Ryzen/EPYC récents, Intel Xeon), avec des contours à un IoU de masque de 0,99 près de ceux d'onnxruntime ; pas utilisé pour Mask R-CNN.</translation>
    </message>
    <message>
      <source>Uninstall: remove the plugin's package folder instead</source>
      <translation>Désinstaller : supprimer plutôt le dossier de paquets de l'extension</translation>
    </message>
    <message>
      <source>Package folder</source>
      <translation>Dossier des paquets</translation>
    </message>
    <message>
      <source>Installed requirements</source>
      <translation>Dépendances installées</translation>
    </message>
    <message>
      <source>Diagnostics for bug reports</source>
      <translation>Diagnostic pour rapports de bogue</translation>
    </message>
    <message>
      <source>Reports what a bug report needs: the QGIS, Python and plugin versions, each runtime package's version (or that it is missing), the devices found (CPU, CUDA, Apple GPU), which algorithms can run, the provider settings and the model files (shipped and in the models folder). Copy the log, or save the report as a text file, and attach it to the report.</source>
      <translation>Indique ce dont un rapport de bogue a besoin : les versions de QGIS, de Python et de l'extension, la version de chaque paquet d'exécution (ou son absence), les processeurs trouvés (CPU, CUDA, GPU Apple), les algorithmes qui peuvent s'exécuter, les paramètres du fournisseur et les fichiers de modèle (fournis et dans le dossier des modèles). Copiez le journal, ou enregistrez le rapport dans un fichier texte, et joignez-le au rapport de bogue.</translation>
    </message>
    <message>
      <source>Report file</source>
      <translation>Fichier du rapport</translation>
    </message>
    <message>
      <source>Optional text file with the same report, to attach to a bug report.</source>
      <translation>Fichier texte facultatif avec le même rapport, à joindre à un rapport de bogue.</translation>
    </message>
    <message>
      <source>Text files (*.txt)</source>
      <translation>Fichiers texte (*.txt)</translation>
    </message>
    <message>
      <source>Report</source>
      <translation>Rapport</translation>
    </message>
  </context>
</TS>
